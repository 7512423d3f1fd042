"""The engine's core: storage, a small thread pool for tasks, callback delivery, recovery."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable

from .callbacks import deliver
from .config import EngineConfig
from .fetcher import Fetcher, FetchError
from .knobs import Knobs, fail_message, read_knobs
from .processing import ImageRejected, upscale_to_file
from .sr import Upscaler
from .store import CALLBACK_DELIVERED, CALLBACK_GAVE_UP, Store, Task

logger = logging.getLogger(__name__)

IMAGE_FORMAT_INCORRECT = "ImageFormatIncorrect"
UNKNOWN_ERROR = "Unknown error"
PROCESSING_FAILED = "The engine could not process the image."


class TaskPool:
    """N daemon threads taking task ids from a queue."""

    def __init__(self, size: int, handle: Callable[[str], None]) -> None:
        self._size = max(1, size)
        self._handle = handle
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self._size):
            thread = threading.Thread(
                target=self._loop, name=f"apixo-engine-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def submit(self, task_id: str) -> None:
        self._queue.put(task_id)

    def stop(self, timeout: float) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while (task_id := self._queue.get()) is not None:
            try:
                self._handle(task_id)
            except Exception:
                logger.exception("task %s crashed the worker loop", task_id)


class Engine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.store = Store(config.db_path, config.initial_balance)
        self.stop_event = threading.Event()
        self.fetcher = Fetcher(
            config.fetch_allow_list(),
            timeout=config.fetch_timeout,
            max_bytes=config.max_source_bytes,
            max_redirects=config.max_redirects,
        )
        self.upscaler = Upscaler(
            config.model,
            config.model_dir,
            threads=config.threads,
            tile=config.tile,
            time_budget=config.time_budget,
            gpu=config.gpu,
            detail=config.detail,
        )
        self.pool = TaskPool(config.workers, self.run_task)
        self._callback_threads: set[threading.Thread] = set()
        self._callback_lock = threading.Lock()
        self._started = False

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the pool and pick up work left over by a previous run."""
        if self._started:
            return
        self._started = True
        self.config.results_dir.mkdir(parents=True, exist_ok=True)
        self.pool.start()
        for task in self.store.unfinished():
            logger.info("resuming task %s (%s)", task.task_id, task.state)
            self.pool.submit(task.task_id)
        for task in self.store.undelivered_callbacks():
            self._send_callback(task)

    def stop(self, timeout: float = 5.0) -> None:
        """Interrupt delays and retry waits, then wait a little for the threads."""
        self.stop_event.set()
        if self._started:
            self.pool.stop(timeout)
        with self._callback_lock:
            threads = list(self._callback_threads)
        for thread in threads:
            thread.join(timeout)
        self.store.close()

    def enqueue(self, task: Task) -> None:
        self.pool.submit(task.task_id)

    # --- processing ----------------------------------------------------------------------

    def run_task(self, task_id: str) -> None:
        if self.stop_event.is_set():
            return
        task = self.store.mark_processing(task_id)
        if task is None:
            return
        knobs = read_knobs(task.image_url, self.config)
        if knobs.stall:
            return  # stays `processing` for good
        if knobs.delay and self.stop_event.wait(knobs.delay):
            return  # shutting down: left `processing`, resumed on the next start
        try:
            result_json, fail_code, fail_msg = self._outcome(task, knobs)
        except Exception:
            logger.exception("task %s: processing failed", task_id)
            result_json, fail_code, fail_msg = None, UNKNOWN_ERROR, PROCESSING_FAILED
        finished = self.store.finish(
            task_id, result_json=result_json, fail_code=fail_code, fail_msg=fail_msg
        )
        if finished is not None and finished.callback_url:
            self._send_callback(finished)

    def _outcome(self, task: Task, knobs: Knobs) -> tuple[str | None, str | None, str | None]:
        if knobs.fail_code and (
            not knobs.fail_times or self.store.take_failure(task.image_url, knobs.fail_times)
        ):
            return None, knobs.fail_code, fail_message(knobs.fail_code)
        try:
            data = self.fetcher.fetch(task.image_url)
        except FetchError as exc:
            return (
                None,
                IMAGE_FORMAT_INCORRECT,
                f"The image could not be downloaded: {str(exc).rstrip('.')}.",
            )
        try:
            name, model = upscale_to_file(
                data,
                task.resolution,
                task.output_format,
                self.config.results_dir,
                self.upscaler,
                knobs.model,
            )
        except ImageRejected as exc:
            return None, IMAGE_FORMAT_INCORRECT, str(exc)
        logger.info("task %s: %s by %s", task.task_id, task.resolution, model)
        url = f"{self.config.base_url}/files/{name}"
        # `model` is the engine's own addition to APIXO's resultJson (clients may ignore it).
        result = {"resultUrls": [url], "model": model}
        return json.dumps(result, separators=(",", ":")), None, None

    # --- callbacks -----------------------------------------------------------------------

    def _send_callback(self, task: Task) -> None:
        thread = threading.Thread(
            target=self._deliver, args=(task,), name=f"apixo-callback-{task.task_id}", daemon=True
        )
        with self._callback_lock:
            self._callback_threads.add(thread)
        thread.start()

    def _deliver(self, task: Task) -> None:
        try:
            assert task.callback_url
            payload = {"code": 200, "message": "success", "data": task.public_data()}
            delays = [
                d * self.config.callback_delay_factor for d in self.config.callback_retry_delays
            ]
            outcome = deliver(
                task.callback_url,
                payload,
                retry_delays=delays,
                stop=self.stop_event,
                timeout=self.config.callback_timeout,
            )
            if outcome is not None and not self.stop_event.is_set():
                state = CALLBACK_DELIVERED if outcome else CALLBACK_GAVE_UP
                self.store.set_callback_state(task.task_id, state)
                if not outcome:
                    logger.warning("callback for %s not delivered, giving up", task.task_id)
        finally:
            with self._callback_lock:
                self._callback_threads.discard(threading.current_thread())
