"""What a handle tells its run and its sinks: called only when there is a run or a sink.

* :func:`report_created` at the call: the run's record (its label built only when read)
  and the ``TaskCreated`` event with the dependencies;
* :func:`observed`, the coroutine a reported task runs instead of its bare body: it
  takes the body's start and end times where they happen (a done-callback comes a loop
  step late) and sends ``TaskStarted``.  The end is reported by :mod:`aiodag.ending`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .bodies import ref
from .deps import ALL_FUTURES, ArgPlan
from .events import Dependency, DependencyKind, TaskCreated, TaskStarted, TaskStatus
from .introspection import AsyncioFace
from .labels import format_call, short_repr
from .outcome import with_outcome_edges
from .sinks import emit

if TYPE_CHECKING:
    from .handle import TaskHandle
    from .runs import Run, TaskRecord

__all__ = ["observed", "report_created"]

DATA, EXOGENOUS = DependencyKind.DATA, DependencyKind.EXOGENOUS
RUNNING = TaskStatus.RUNNING
_new_tuple = tuple.__new__  # builds a Dependency without NamedTuple's Python-level __new__
_now = time.monotonic_ns


def report_created(
    handle: TaskHandle[Any],
    run: Run | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    plan: ArgPlan | None,
    deps: Sequence[asyncio.Future[Any]],
) -> None:
    ts = _now()
    spec = handle._spec
    name = spec.name
    # The task whose body is calling (if any): this one was spawned by it.
    caller = asyncio.current_task()
    caller_id = caller.id if isinstance(caller, AsyncioFace) else None
    if deps:
        if plan is ALL_FUTURES and not spec.exogenous:
            # Every dependency is a data argument (the common case): no lookups.
            dependencies = tuple([
                _new_tuple(Dependency, (fut.id, DATA))  # type: ignore[attr-defined]
                for fut in deps if isinstance(fut, AsyncioFace)
            ])
            data: Sequence[asyncio.Future[Any]] = args
        else:
            data = () if plan is None else args if plan is ALL_FUTURES else plan.futures
            dependencies = tuple([
                _new_tuple(Dependency, (fut.id,  # type: ignore[attr-defined]
                                         DATA if fut in data else EXOGENOUS))
                for fut in deps if isinstance(fut, AsyncioFace)
            ])
        if len(dependencies) != len(deps):
            # an `outcome(h)` among the dependencies is an edge from h
            dependencies = with_outcome_edges(deps, dependencies, data)
    else:
        dependencies = ()
    not_ready = handle._pending > 0 or handle._trouble
    slots = handle._sinks
    if not slots:
        # Only the run's record needs a label, and only when someone reads it: keep the
        # argument reprs (upstreams as their records) and build it then.
        parts = tuple(map(_label_part, args))
        kwparts = tuple([(k, _label_part(v)) for k, v in kwargs.items()]) if kwargs else ()
        assert run is not None
        handle._record = record = run._add(handle.id, name, (parts, kwparts), dependencies,
                                           ts, caller_id)
        if not_ready:
            record.ready_ns = None  # set when its last upstream ends
        return
    arg_reprs = tuple(map(ref, args))
    kwarg_reprs = tuple([(k, ref(v)) for k, v in kwargs.items()]) if kwargs else ()
    label = format_call(name, arg_reprs, kwarg_reprs)
    made: TaskRecord | None = None
    if run is not None:
        handle._record = made = run._add(handle.id, name, label, dependencies, ts,
                                         caller_id)
        if not_ready:
            made.ready_ns = None
    try:
        emit(slots, TaskCreated(
            handle.id, name, label, run.id if run is not None else None,
            dependencies, arg_reprs, kwarg_reprs, ts, caller_id,
        ))
    except BaseException:
        # A sink raised SystemExit or the like: no task is created after all.
        if made is not None:
            assert run is not None
            run._discard(made)
            handle._record = None
        raise


async def observed(handle: TaskHandle[Any], body_of: Callable[..., Any],
                   *call: Any) -> Any:
    """Run the body (``body_of(*call)``) as the task's coroutine, noting when it starts
    and ends."""
    handle._body = body = body_of(*call)  # (also for get_coro() / get_stack() / repr)
    del call  # the arguments: not kept in this frame while the body runs
    record = handle._record
    ts = _now()
    if record is not None:
        record.status = RUNNING
        record.started_ns = ts
    slots = handle._sinks
    if slots:
        try:
            if record is not None:
                emit(slots, TaskStarted(handle.id, ts, record.ready_ns, record.released_by))
            else:
                emit(slots, TaskStarted(handle.id, ts))
        except BaseException:
            body.close()  # never to run: no "coroutine was never awaited"
            handle._end_ns = _now()
            raise
    try:
        return await body
    finally:
        handle._end_ns = _now()


def _label_part(value: object) -> str | TaskRecord:
    # An upstream of the same run stands as its record, whose name#id the label shows.
    if isinstance(value, AsyncioFace):
        return value._record or value._aiodag_ref  # type: ignore[attr-defined,no-any-return]
    return short_repr(value)
