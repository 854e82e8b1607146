"""Sinks: the one plug-in point of the engine.

A sink is any callable taking one :data:`~aiodag.events.Event`.  The contract, as for
OpenTelemetry's span processors: a sink is called synchronously on the event loop's
thread, so it should be quick and must not block.  It should not raise either; if it
does, the engine logs the error once (logger ``aiodag``) and disables that sink for
good, so an observer can never break the pipeline it observes (trio's instruments
work the same way).

Global sinks (:func:`add_sink`) see every task; a :class:`~aiodag.Run` has sinks of
its own that see only its tasks.  A task takes the sinks in force when it is called
and reports its whole life to them, so a sink sees each task either completely or not
at all — except that :func:`remove_sink` takes effect at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .events import Event
from .typing import Sink

__all__ = ["add_sink", "remove_sink"]

logger = logging.getLogger("aiodag")


class SinkSlot:
    """A sink plus its enabled flag, shared by every task that reports to it.

    Tasks hold slots rather than sinks, so that disabling a failing or removed sink
    reaches the tasks already in flight without any of them searching a registry.
    """

    __slots__ = ("enabled", "sink")

    def __init__(self, sink: Sink) -> None:
        if not callable(sink):
            raise TypeError(
                f"a sink must be a callable taking one event, got {sink!r}; "
                "pass a function or an object with __call__(self, event)"
            )
        self.sink = sink
        self.enabled = True

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<SinkSlot {self.sink!r} {state}>"


# Copy-on-write: tasks capture the tuple, add/remove replace it.
_global_slots: tuple[SinkSlot, ...] = ()


def add_sink(sink: Sink) -> None:
    """Send the events of every task called from now on to ``sink``.

    >>> events = []
    >>> aiodag.add_sink(events.append)
    """
    global _global_slots
    if any(slot.sink is sink for slot in _global_slots):
        raise ValueError(f"sink {sink!r} is already added; add a sink once")
    _global_slots = (*_global_slots, SinkSlot(sink))


def remove_sink(sink: Sink) -> None:
    """Stop sending events to ``sink``, at once, also for tasks already running."""
    global _global_slots
    for slot in _global_slots:
        if slot.sink is sink:
            slot.enabled = False
            _global_slots = tuple(s for s in _global_slots if s is not slot)
            return
    raise ValueError(f"sink {sink!r} was not added (add_sink) or is already removed")


def global_slots() -> tuple[SinkSlot, ...]:
    """The global sinks in force now."""
    return _global_slots


def make_slots(sinks: Iterable[Sink]) -> tuple[SinkSlot, ...]:
    """Slots for a run's own sinks."""
    return tuple(SinkSlot(sink) for sink in sinks)


def emit(slots: tuple[SinkSlot, ...], event: Event) -> None:
    """Call every enabled sink with ``event``; disable (and log) any that raises.

    A sink that raises a BaseException that is not an Exception (SystemExit,
    KeyboardInterrupt, CancelledError) means it: the other sinks still get the event
    (a fail-fast sink listed first must not cost the trace its last event), then the
    first such exception propagates.
    """
    stop: BaseException | None = None
    for slot in slots:
        if slot.enabled:
            try:
                slot.sink(event)
            except Exception:
                _disable(slot, event)
            except BaseException as exc:
                if stop is None:
                    stop = exc
    if stop is not None:
        try:
            raise stop
        finally:
            stop = None  # no reference cycle through this frame


def _disable(slot: SinkSlot, event: Event) -> None:
    global _global_slots
    slot.enabled = False
    _global_slots = tuple(s for s in _global_slots if s is not slot)
    logger.exception(
        "sink %r raised on %s and is disabled; the pipeline goes on without it",
        slot.sink,
        type(event).__name__,
    )
