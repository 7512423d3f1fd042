"""Plain helpers shared by the apps: no models, and no import of any app (the bottom of the
import ladder, checked by import-linter in `make test`)."""
