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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .bodies import body_of, ref
from .deps import ALL_FUTURES, ArgPlan
from .events import Dependency, DependencyKind, TaskCreated, TaskStarted
from .introspection import AsyncioFace
from .labels import format_call, short_repr
from .outcome import with_outcome_edges
from .rows import NONE, READY, RELEASED, RUNNING_CODE, STARTED, STATUS, value_of
from .sinks import emit

if TYPE_CHECKING:
    from .handle import TaskHandle
    from .records import LabelParts
    from .runs import Run

__all__ = ["observed", "report_created", "report_started"]

DATA, EXOGENOUS = DependencyKind.DATA, DependencyKind.EXOGENOUS
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
    ready = not (handle._pending > 0 or handle._trouble)
    slots = handle._sinks
    if not slots and plan is ALL_FUTURES and not spec.exogenous:
        # Every dependency is a data argument (the common case): the row keeps their
        # ids, and no label unless it cannot be made from them (see aiodag.rows).
        assert run is not None
        dep_ids = [fut.id for fut in deps  # type: ignore[attr-defined]
                   if isinstance(fut, AsyncioFace)]
        n = len(dep_ids)
        if n == len(deps):  # (each a handle: no plain future, no outcome(h))
            rows = run._rows
            handle._row = row = rows.add(handle.id, name, ts, ready, caller_id, dep_ids)
            if n != len(args) or kwargs:
                rows.labels[row] = _label_parts(run, args, kwargs)
            else:
                for arg in args:
                    if arg._run is not run:  # an upstream of another run: name it now
                        rows.labels[row] = _label_parts(run, args, kwargs)
                        break
            run._unfinished += 1
            return
    dependencies = _dependencies(spec.exogenous, args, plan, deps) if deps else ()
    if not slots:
        assert run is not None
        rows = run._rows
        handle._row = row = rows.add(handle.id, name, ts, ready, caller_id, None,
                                     dependencies)
        if args or kwargs or dependencies:
            # Only the run's record needs a label, and only when someone reads it: keep
            # the argument reprs (upstreams as their ids) and build it then.  (Kept too
            # for a call without arguments that has dependencies: exogenous ones, which
            # the label does not show.)
            rows.labels[row] = _label_parts(run, args, kwargs)
        run._unfinished += 1
        return
    arg_reprs = tuple(map(ref, args))
    kwarg_reprs = tuple([(k, ref(v)) for k, v in kwargs.items()]) if kwargs else ()
    label = format_call(name, arg_reprs, kwarg_reprs)
    if run is not None:
        rows = run._rows
        handle._row = row = rows.add(handle.id, name, ts, ready, caller_id, None,
                                     dependencies)
        rows.labels[row] = label
        run._unfinished += 1
    try:
        emit(slots, _new_tuple(TaskCreated, (  # (as Dependency: no Python-level __new__)
            handle.id, name, label, run.id if run is not None else None,
            dependencies, arg_reprs, kwarg_reprs, ts, caller_id,
        )))
    except BaseException:
        # A sink raised SystemExit or the like: no task is created after all.
        if run is not None:
            run._discard(handle._row)
            handle._row = NONE
        raise


async def observed(handle: TaskHandle[Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                   plan: ArgPlan | None) -> Any:
    """Run the body (called with ``args``, ``kwargs``, their upstreams' results in
    place) as the task's coroutine, noting when it starts and ends."""
    handle._body = body = body_of(handle, args, kwargs, plan)  # (also for get_coro())
    del args, kwargs, plan  # the arguments: not kept in this frame while the body runs
    try:
        report_started(handle, _now())
    except BaseException:  # a sink's SystemExit or the like
        body.close()  # never to run: no "coroutine was never awaited"
        handle._end_ns = _now()
        raise
    try:
        return await body
    finally:
        handle._end_ns = _now()


def report_started(handle: TaskHandle[Any], ts: int, limit_wait_ns: int | None = None) -> None:
    """The body starts now (``ts``): its row says so, and the sinks are told
    (``limit_wait_ns``: the part of its wait spent for a slot of a limit)."""
    row = handle._row
    if row != NONE:
        cells = handle._run._rows.cells  # type: ignore[union-attr]  # (a row is in a run)
        at = 8 * row
        cells[at + STATUS] = RUNNING_CODE
        cells[at + STARTED] = ts
    slots = handle._sinks
    if slots:
        if row != NONE:
            emit(slots, _new_tuple(TaskStarted, (  # (no NamedTuple's Python-level __new__)
                handle.id, ts, value_of(cells[at + READY]), value_of(cells[at + RELEASED]),
                limit_wait_ns)))
        else:
            emit(slots, _new_tuple(TaskStarted, (handle.id, ts, None, None, limit_wait_ns)))


def _dependencies(exogenous: Sequence[Any], args: tuple[Any, ...], plan: ArgPlan | None,
                  deps: Sequence[asyncio.Future[Any]]) -> tuple[Dependency, ...]:
    """The DAG's edges of a call: one per upstream handle (plain futures are waited for
    but are no tasks), each ``outcome(h)`` standing as an edge from ``h``."""
    if plan is ALL_FUTURES and not exogenous:
        data: Sequence[asyncio.Future[Any]] = args
        dependencies = tuple([
            _new_tuple(Dependency, (fut.id, DATA))  # type: ignore[attr-defined]
            for fut in deps if isinstance(fut, AsyncioFace)
        ])
    else:
        data = () if plan is None else args if plan is ALL_FUTURES else plan.futures
        dependencies = tuple([
            _new_tuple(Dependency, (fut.id,  # type: ignore[attr-defined]
                                     DATA if fut in data else EXOGENOUS))
            for fut in deps if isinstance(fut, AsyncioFace)
        ])
    if len(dependencies) != len(deps):
        dependencies = with_outcome_edges(deps, dependencies, data)
    return dependencies


def _label_parts(run: Run, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LabelParts:
    parts = tuple([_label_part(run, value) for value in args])
    kwparts = tuple([(k, _label_part(run, v)) for k, v in kwargs.items()]) if kwargs else ()
    return parts, kwparts


def _label_part(run: Run, value: object) -> str | int:
    # An upstream of the same run stands as its id (its record gives the name); other
    # handles as their name#id, anything else as a short repr.
    if isinstance(value, AsyncioFace):
        if getattr(value, "_run", None) is run:
            return value.id  # type: ignore[attr-defined,no-any-return]
        return value._aiodag_ref  # type: ignore[attr-defined,no-any-return]
    return short_repr(value)


