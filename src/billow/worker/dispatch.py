"""Work that follows an API call, started right after its commit (decision record:
docs/decisions/0003-job-engine.md, "After-commit dispatch").

A service calls :func:`after_commit` inside the request's transaction::

    after_commit(session, "billing.bill_subscriptions", payload)

and the task runs once that transaction commits: never if it rolls back, once if the same ``(task,
payload)`` was queued twice in the transaction. Tasks are registered with :func:`task` like scans
(:mod:`billow.worker.scans`): idempotent functions ``(session_factory, payload, now)`` that open their own
transactions. The periodic scans remain the safety net: a task that is dropped (server stopped, queue
full, mode ``off``, a session without dispatcher such as ``billow bill``'s) costs a delay until the next
scan, never a wrong or double effect.

Where tasks run is the :class:`Dispatcher` bound to the session's sessionmaker (``info``), chosen by
``BILLOW_DISPATCH`` or :func:`billow.app.create_app`'s ``dispatch`` argument:

- ``thread`` (default, ``billow serve``): a small bounded thread pool in the server process; the response
  is not delayed. A ``(task, payload)`` already waiting in the queue is not queued again.
- ``sync``: in the committing thread, right after the commit (before the response is sent): tests.
- ``off``: nothing runs; the scans do the work.

Code outside a session's transaction (event ingestion commits on its own connection) calls
:meth:`Dispatcher.submit` after its commit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from billow.config import current_settings
from billow.kit import metrics
from billow.worker.scans import SessionFactory

log = logging.getLogger("billow.dispatch")

MODES = ("thread", "sync", "off")
#: Threads of the pool of ``thread`` mode (``BILLOW_DISPATCH_THREADS``).
DEFAULT_THREADS = 2
#: Tasks waiting at most in ``thread`` mode; beyond, new ones are dropped (logged): the scans catch up.
MAX_WAITING = 10_000

#: Key of the dispatcher in ``Session.info`` (set through the sessionmaker's ``info``).
DISPATCHER_KEY = "billow.dispatcher"
#: Key, in the ``info`` of the sessions tasks get, of the dispatcher running them: a task's session queues
#: nothing, except the work queued with ``after_commit(..., from_tasks=True)`` (webhook deliveries).
TASK_DISPATCHER_KEY = "billow.task_dispatcher"
_PENDING_KEY = "billow.after_commit"

TaskFunction = Callable[[SessionFactory, str, datetime], Any]


@dataclass(frozen=True)
class Task:
    name: str
    run: TaskFunction


TASKS: dict[str, Task] = {}

#: Modules that register tasks (imported by :func:`load_all`).
TASK_MODULES: list[str] = [
    "billow.billing.immediate",
    "billow.billing.tasks",
    "billow.billing.ongoing_balances",
    "billow.billing.usage_alerts",
    "billow.invoices.grace",
    "billow.credit_notes.manual",
    "billow.credit_notes.refunds",
    "billow.documents.tasks",
    "billow.webhooks.delivery",
    "billow.mail.deliveries",
    "billow.payments.receipts",
    "billow.integrations.jobs",
    "billow.dunning.run",
]


def task(name: str) -> Callable[[TaskFunction], TaskFunction]:
    """Register ``function(session_factory, payload, now)`` as the task ``name``. It must be idempotent
    and open its own transactions; ``payload`` is a string (what to do), ``now`` the instant it runs."""

    def register(function: TaskFunction) -> TaskFunction:
        TASKS[name] = Task(name, function)
        return function

    return register


def load_all() -> dict[str, Task]:
    import importlib

    for module in TASK_MODULES:
        importlib.import_module(module)
    return TASKS


# ------------------------------------------------------------------------------------------ hooks

HookFunction = Callable[..., object]

#: In-transaction hooks: a lower domain announces a change by name (:func:`run_hooks`) and the domain
#: that reacts (higher in the layers: ``docs/architecture.md``) registers a function with :func:`hook`;
#: the function runs in the caller's transaction, so its writes commit or roll back with the change.
HOOKS: dict[str, list[HookFunction]] = {}

#: Modules that register hooks (imported before a hook runs, so a reaction is never missed).
HOOK_MODULES: list[str] = [
    "billow.invoices.grace",
    "billow.credit_notes.manual",
    "billow.credit_notes.refunds",
    "billow.wallets.settlement",
    "billow.alerts.evaluation",
    "billow.documents.tasks",
    "billow.mail.deliveries",
    "billow.payments.provider_hooks",
    "billow.payments.disputes",
    "billow.payments.receipts",
    "billow.integrations.triggers",
    "billow.dunning.run",
    "billow.audit.hooks",
]


def hook(name: str) -> Callable[[HookFunction], HookFunction]:
    """Register ``function(session, **details)`` to run when :func:`run_hooks` announces ``name``."""

    def register(function: HookFunction) -> HookFunction:
        functions = HOOKS.setdefault(name, [])
        if function not in functions:
            functions.append(function)
        return function

    return register


def run_hooks(session: Session, name: str, **details: Any) -> None:
    """Run every function registered for ``name`` in ``session``'s transaction."""
    import importlib

    for module in HOOK_MODULES:
        importlib.import_module(module)
    for function in HOOKS.get(name, ()):
        function(session, **details)


def ids_payload(head: str, items: Iterable[str]) -> str:
    """A task payload: a head (an instant, an organization id) and a list of ids (``head|id,id``)."""
    return f"{head}|{','.join(items)}"


def split_ids_payload(payload: str) -> tuple[str, list[str]]:
    """The head and ids of an :func:`ids_payload`."""
    head, _, rest = payload.partition("|")
    return head, [item for item in rest.split(",") if item]


def dispatch_mode(value: str | None = None) -> str:
    """``BILLOW_DISPATCH``: ``thread`` (default), ``sync`` or ``off``."""
    mode = (value if value is not None else current_settings().dispatch).strip().lower()
    if mode not in MODES:
        raise ValueError(f"BILLOW_DISPATCH must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


class Dispatcher:
    """Runs tasks after commits (see the module's docstring). ``session_factory`` is the one tasks get:
    a sessionmaker **without** dispatcher, so work done by a task never queues more work."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        mode: str = "thread",
        threads: int | None = None,
        max_waiting: int = MAX_WAITING,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mode = dispatch_mode(mode)
        self.session_factory = session_factory
        self.clock = clock
        self.max_waiting = max_waiting
        self.threads = threads or current_settings().dispatch_threads
        self._lock = threading.Lock()
        self._waiting: set[tuple[str, str]] = set()
        self._executor: ThreadPoolExecutor | None = None
        factory_kw = getattr(session_factory, "kw", None)
        if isinstance(factory_kw, dict):
            factory_kw["info"] = {**(factory_kw.get("info") or {}), TASK_DISPATCHER_KEY: self}
        #: Completed runs per task name, and failures (tests and diagnostics).
        self.runs: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        load_all()

    # ------------------------------------------------------------------------------------------ queueing

    def submit(self, name: str, payload: str) -> bool:
        """Run task ``name`` on ``payload`` (after the caller's commit). ``False`` when it was not queued:
        mode ``off``, the same work already waiting, or the queue full."""
        if name not in TASKS:
            raise KeyError(f"unknown task {name!r}")
        if self.mode == "off":
            return False
        if self.mode == "sync":
            metrics.TASKS_QUEUED.labels(name).inc()
            self._run(name, payload)
            return True
        key = (name, payload)
        with self._lock:
            if key in self._waiting:
                return False
            if len(self._waiting) >= self.max_waiting:
                log.warning(
                    "dispatch queue full (%d): task %s dropped (the scans catch up)", self.max_waiting, name
                )
                return False
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix="billow-dispatch"
                )
            self._waiting.add(key)
        try:
            self._executor.submit(self._run_queued, key)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._waiting.discard(key)
            return False
        metrics.TASKS_QUEUED.labels(name).inc()
        return True

    def _run_queued(self, key: tuple[str, str]) -> None:
        with self._lock:
            # From now on the same work can be queued again: it may concern what this run cannot see.
            self._waiting.discard(key)
        self._run(*key)

    def _run(self, name: str, payload: str) -> None:
        try:
            TASKS[name].run(self.session_factory, payload, self.clock())
        except Exception:
            log.exception("task %s (%s) failed; the periodic scans will retry its work", name, payload)
            metrics.TASKS_FAILED.labels(name).inc()
            with self._lock:
                self.failures[name] = self.failures.get(name, 0) + 1
        else:
            metrics.TASKS_SUCCEEDED.labels(name).inc()
        finally:
            with self._lock:
                self.runs[name] = self.runs.get(name, 0) + 1

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until the tasks queued so far have run (tests)."""
        executor = self._executor
        if executor is None:
            return
        # A barrier task per thread: all of them finish only after every task queued before them.
        barrier = threading.Barrier(self.threads + 1)

        def wait_barrier() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout)

        for _ in range(self.threads):
            executor.submit(wait_barrier)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pool (application shutdown); with ``wait``, let the running tasks finish. Queued ones
        are dropped: the scans catch up. A later :meth:`submit` starts a new pool (tests restart apps)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)
        with self._lock:
            self._waiting.clear()


# ------------------------------------------------------------------------------------------ sessions


def bind(factory: sessionmaker[Session], dispatcher: Dispatcher) -> None:
    """Make the sessions of ``factory`` dispatch their :func:`after_commit` tasks to ``dispatcher``."""
    info = dict(factory.kw.get("info") or {})
    info[DISPATCHER_KEY] = dispatcher
    factory.kw["info"] = info


def dispatcher_of(session: Session) -> Dispatcher | None:
    found = session.info.get(DISPATCHER_KEY)
    return found if isinstance(found, Dispatcher) else None


def after_commit(session: Session, name: str, payload: str, *, from_tasks: bool = False) -> None:
    """Queue task ``name`` on ``payload`` to run once the session's current transaction commits (nothing
    if it rolls back; once if queued twice). A session with no dispatcher (scans, CLI commands, tests on
    bare sessions) queues nothing: the periodic scans do that work. With ``from_tasks``, the session of a
    task queues it too, on the dispatcher running the task (work that never queues more work: a webhook
    delivery after a billing task's commit)."""
    if name not in TASKS:
        load_all()
        if name not in TASKS:
            raise KeyError(f"unknown task {name!r}")
    if dispatcher_of(session) is None and not (from_tasks and _task_dispatcher_of(session) is not None):
        return
    pending: dict[Hashable, None] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = {}
    pending[(name, payload)] = None  # an ordered set


def _task_dispatcher_of(session: Session) -> Dispatcher | None:
    found = session.info.get(TASK_DISPATCHER_KEY)
    return found if isinstance(found, Dispatcher) else None


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    dispatcher = dispatcher_of(session) or _task_dispatcher_of(session)
    if not pending or dispatcher is None:
        return
    for name, payload in pending:
        try:
            dispatcher.submit(name, payload)
        except Exception:  # never turn a committed request into an error
            log.exception("could not dispatch task %s (%s)", name, payload)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_rollback(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the pending tasks were taken by ``after_commit``; what is left when the outermost
    # transaction ends belongs to a rolled-back transaction. (A rolled-back savepoint keeps them: tasks
    # re-read the database, so running one for nothing costs a query.)
    if transaction.parent is None and transaction.nested is False:
        session.info.pop(_PENDING_KEY, None)
