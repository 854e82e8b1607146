"""aiodag's mypy plugin: a task call's arguments checked against the task's parameters.

Enable it in ``pyproject.toml``::

    [tool.mypy]
    plugins = ["aiodag.mypy"]

A task's call is typed ``(*Any, **Any) -> TaskHandle[T]``, since any argument may be a
handle standing for its value, a mapping Python's type system cannot express.  This
plugin checks each call of a :class:`~aiodag.TaskFunction` against the wrapped function's
own parameters, the way the engine resolves arguments: for a parameter of type ``X`` it
accepts an ``X``, or an asyncio future of ``X`` (a ``TaskHandle[X]`` is one), also nested
in plain ``list``, ``tuple`` and ``dict`` values.  It reports, with mypy's error codes
``call-arg`` and ``arg-type`` (one line each)::

    Missing positional argument "pair_item2" in call to task "concatenate"
    Argument 1 to task "concatenate" has incompatible type "int"; expected "str"
        or a task handle of "str"
    Unexpected keyword argument "k" for task "fetch"
    Argument 1 to task "fetch" has incompatible type "TaskHandle[int]"; the task
        receives its result, "int", but expects "str"

Not checked: the items' types of ``*xs`` / ``**kw`` spread into a call (the count is
checked as far as it can be), and a task typed ``TaskFunction[T]`` (parameters ``...``).

Only futures count as handles, not any awaitable: the engine resolves futures and passes
a coroutine through unawaited, so a coroutine where ``X`` is declared is an error.  The
engine never imports this module; only mypy does.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from mypy import errorcodes
from mypy.argmap import map_actuals_to_formals
from mypy.maptype import map_instance_to_supertype
from mypy.messages import format_type
from mypy.nodes import (
    ARG_NAMED,
    ARG_POS,
    ARG_STAR,
    ARG_STAR2,
    ArgKind,
    CallExpr,
    ConditionalExpr,
    Context,
    DictExpr,
    Expression,
    ListExpr,
    MemberExpr,
    NameExpr,
    StarExpr,
    TupleExpr,
)
from mypy.plugin import CheckerPluginInterface, MethodContext, Plugin
from mypy.subtypes import is_subtype
from mypy.typeops import make_simplified_union
from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    Parameters,
    ProperType,
    TupleType,
    Type,
    UnionType,
    get_proper_type,
)

__all__ = ["AiodagPlugin", "plugin"]

TASK_CALL = "aiodag.decorator.TaskFunction.__call__"
# asyncio.Future as typeshed defines it: in `_asyncio` (asyncio.futures re-exports it),
# in `asyncio.futures` in older typeshed copies.
FUTURES = ("_asyncio.Future", "asyncio.futures.Future")


class AiodagPlugin(Plugin):
    """Checks the arguments of every call of a task (``TaskFunction.__call__``)."""

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        return check_task_call if fullname == TASK_CALL else None


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class (every mypy 1.x and later has this API)."""
    return AiodagPlugin


def check_task_call(ctx: MethodContext) -> Type:
    """Report a task call's mistakes; the return type stays mypy's (``TaskHandle[T]``)."""
    params = _parameters(ctx.type)
    if params is not None:
        _CallCheck(ctx, params).run()
    return ctx.default_return_type


def _parameters(typ: ProperType) -> Parameters | CallableType | None:
    """The wrapped function's parameters, or None where they are not known."""
    if not isinstance(typ, Instance) or len(typ.args) < 2:
        return None
    params = get_proper_type(typ.args[1])
    if isinstance(params, Parameters | CallableType) and not params.is_ellipsis_args:
        return params
    return None  # `...`, Any, or a ParamSpec of generic code: any call goes


class _CallCheck:
    """One call of a task, checked against its parameters."""

    def __init__(self, ctx: MethodContext, params: Parameters | CallableType) -> None:
        self.api: CheckerPluginInterface = ctx.api
        self.context: Context = ctx.context
        self.params = params
        # The call's arguments in source order: mypy gives them per formal of
        # `(*args, **kwargs)`, positional ones first, keywords after, both in order.
        self.exprs: list[Expression] = [e for group in ctx.args for e in group]
        self.kinds: list[ArgKind] = [k for group in ctx.arg_kinds for k in group]
        self.names: list[str | None] = [n for group in ctx.arg_names for n in group]
        self.types: list[Type] = [t for group in ctx.arg_types for t in group]
        self.task = _task_name(ctx.context)

    def fail(self, message: str, code: errorcodes.ErrorCode) -> None:
        self.api.fail(message, self.context, code=code)

    def run(self) -> None:
        params = self.params
        formal_to_actual = map_actuals_to_formals(
            self.kinds, self.names, params.arg_kinds, params.arg_names,
            lambda i: self.types[i],
        )
        if self._check_count(formal_to_actual):
            return  # as mypy does: types are not compared when the shape is wrong
        for formal, actuals in enumerate(formal_to_actual):
            for actual in actuals:
                if self.kinds[actual] in (ARG_STAR, ARG_STAR2):
                    continue  # `*xs` / `**kw` in the call: their items are not checked
                self._check_type(actual, params.arg_types[formal])

    def _check_count(self, formal_to_actual: list[list[int]]) -> bool:
        """Missing, surplus, unknown and repeated arguments; True if any was reported."""
        params, failed = self.params, False
        mapped = {a for actuals in formal_to_actual for a in actuals}
        named = [n for n in params.arg_names if n is not None]
        for actual, kind in enumerate(self.kinds):
            if actual in mapped:
                continue
            if kind == ARG_POS:
                self.fail(f"Too many positional arguments for task {self.task}",
                          errorcodes.CALL_ARG)
            elif kind == ARG_NAMED:
                name = self.names[actual]
                hint = difflib.get_close_matches(name or "", named, n=1)
                tail = f'; did you mean "{hint[0]}"?' if hint else ""
                self.fail(f'Unexpected keyword argument "{name}" for task {self.task}{tail}',
                          errorcodes.CALL_ARG)
            else:
                continue
            failed = True
        spread = any(k in (ARG_STAR, ARG_STAR2) for k in self.kinds)
        for formal, actuals in enumerate(formal_to_actual):
            kind, name = params.arg_kinds[formal], params.arg_names[formal]
            if not actuals and kind.is_required() and not spread:
                what = "positional" if kind == ARG_POS else "named"
                label = f' "{name}"' if name else f" {formal + 1}"  # positional-only
                self.fail(f"Missing {what} argument{label} in call to task {self.task}",
                          errorcodes.CALL_ARG)
                failed = True
            elif len(actuals) > 1 and not kind.is_star() and not any(
                self.kinds[a] in (ARG_STAR, ARG_STAR2) for a in actuals
            ):
                self.fail(f'Task {self.task} gets multiple values for argument "{name}"',
                          errorcodes.CALL_ARG)
                failed = True
        return failed

    def _check_type(self, actual: int, expected: Type) -> None:
        """An argument whose value, once the engine resolved it, is not ``expected``."""
        expr, given = self.exprs[actual], self.types[actual]
        if _accepts(self.api, expr, given, expected):
            return
        if _is_display(expr) or isinstance(expr, ConditionalExpr):
            given = _item_type(self.api, expr)
        name = self.names[actual]
        which = f'"{name}"' if name else str(actual + 1)
        options = self.api.options
        shown, want = format_type(given, options), format_type(expected, options)
        received = resolved(given)
        if not is_subtype(received, given) or not is_subtype(given, received):
            self.fail(
                f"Argument {which} to task {self.task} has incompatible type {shown}; the "
                f"task receives its result, {format_type(received, options)}, but expects "
                f"{want}",
                errorcodes.ARG_TYPE,
            )
        else:
            self.fail(
                f"Argument {which} to task {self.task} has incompatible type {shown}; "
                f"expected {want} or a task handle of {want}",
                errorcodes.ARG_TYPE,
            )


def _accepts(api: CheckerPluginInterface, expr: Expression, given: Type,
             expected: Type) -> bool:
    """Does the argument ``expr`` (of type ``given``), resolved, fit ``expected``?

    A list, tuple or dict written out in the call is checked item by item, as mypy checks
    a display against the type it is passed as (so ``[1, n]`` fits ``list[float]``
    although ``list[int]`` is not a ``list[float]``).  Its type as mypy inferred it for
    the call's ``*args: Any`` is no help: ``list[Any]``.
    """
    want = get_proper_type(expected)
    if isinstance(want, AnyType):
        return True
    if isinstance(expr, ConditionalExpr):  # each branch on its own: older mypy joins them,
        return all(                        # `"a" if c else h` into `Iterable[str]`
            _accepts(api, e, _type_of(api, e), expected)
            for e in (expr.if_expr, expr.else_expr)
        )
    if not _is_display(expr):
        return is_subtype(resolved(given), expected)
    if isinstance(want, UnionType):
        return any(_accepts(api, expr, given, item) for item in want.items)
    if isinstance(want, Instance):
        fullname = want.type.fullname
        if isinstance(expr, ListExpr) and fullname == "builtins.list":
            return _all_fit(api, expr.items, want.args[0])
        if isinstance(expr, TupleExpr) and fullname == "builtins.tuple":
            return _all_fit(api, expr.items, want.args[0])
        if isinstance(expr, DictExpr) and fullname == "builtins.dict":
            keys = [k for k, _ in expr.items if k is not None]
            return all(is_subtype(_type_of(api, k), want.args[0]) for k in keys) and (
                _all_fit(api, [v for _, v in expr.items], want.args[1])
            )
    if isinstance(want, TupleType) and isinstance(expr, TupleExpr):
        return len(expr.items) == len(want.items) and all(
            _accepts(api, e, _type_of(api, e), w)
            for e, w in zip(expr.items, want.items, strict=True)
        )
    return is_subtype(resolved(_display_type(api, expr)), expected)


def _is_display(expr: Expression) -> bool:
    """A list, tuple or dict written out, with no ``*xs`` / ``**d`` inside."""
    if isinstance(expr, ListExpr | TupleExpr):
        return not any(isinstance(e, StarExpr) for e in expr.items)
    return isinstance(expr, DictExpr) and all(k is not None for k, _ in expr.items)


def _display_type(api: CheckerPluginInterface, expr: Expression) -> Type:
    """The type of a display from its items' types, e.g. ``list[TaskHandle[int] | str]``."""
    def union(items: Sequence[Expression]) -> Type:
        return make_simplified_union([_item_type(api, e) for e in items])

    if isinstance(expr, ListExpr):
        return api.named_generic_type("builtins.list", [union(expr.items)])
    if isinstance(expr, TupleExpr):
        fallback = api.named_generic_type("builtins.tuple", [union(expr.items)])
        return TupleType([_item_type(api, e) for e in expr.items], fallback)
    assert isinstance(expr, DictExpr)
    keys = [k for k, _ in expr.items if k is not None]
    return api.named_generic_type(
        "builtins.dict", [union(keys), union([v for _, v in expr.items])]
    )


def _item_type(api: CheckerPluginInterface, expr: Expression) -> Type:
    if isinstance(expr, ConditionalExpr):
        return make_simplified_union([_item_type(api, expr.if_expr),
                                      _item_type(api, expr.else_expr)])
    return _display_type(api, expr) if _is_display(expr) else _type_of(api, expr)


def _all_fit(api: CheckerPluginInterface, items: list[Expression], expected: Type) -> bool:
    return all(_accepts(api, e, _type_of(api, e), expected) for e in items)


def _type_of(api: CheckerPluginInterface, expr: Expression) -> Type:
    """The type mypy inferred for a part of the call (inferred again if not recorded)."""
    lookup = getattr(api, "lookup_type_or_none", None)  # TypeChecker's own record
    found: Type | None = lookup(expr) if lookup is not None else None
    return found if found is not None else api.get_expression_type(expr)


def resolved(typ: Type) -> Type:
    """The type a task body receives for an argument of type ``typ``.

    Futures (task handles) become their result's type, also inside plain ``list``,
    ``tuple`` and ``dict`` values; other types, subclasses of those containers included
    (the engine passes them through untouched), stay as they are.
    """
    proper = get_proper_type(typ)
    if isinstance(proper, UnionType):
        return make_simplified_union([resolved(item) for item in proper.items])
    if isinstance(proper, TupleType):
        if proper.partial_fallback.type.fullname != "builtins.tuple":
            return typ  # a named tuple: passed through
        return proper.copy_modified(items=[resolved(item) for item in proper.items])
    if not isinstance(proper, Instance):
        return typ
    info = proper.type
    future_info = next((base for base in info.mro if base.fullname in FUTURES), None)
    if future_info is not None:
        return map_instance_to_supertype(proper, future_info).args[0]
    if info.fullname in ("builtins.list", "builtins.tuple"):
        return proper.copy_modified(args=[resolved(proper.args[0])])
    if info.fullname == "builtins.dict":
        return proper.copy_modified(args=[proper.args[0], resolved(proper.args[1])])
    return typ


def _task_name(context: Context) -> str:
    """The task as the call names it: ``"fetch"``, ``"strip_numbers"`` for
    ``task(strip_numbers)(x)``, ``"Loader.load"`` for ``loader.load(x)``."""
    callee = context.callee if isinstance(context, CallExpr) else None
    while isinstance(callee, CallExpr) and callee.args:  # task(fn, *deps)(...)
        callee = callee.args[0]
    if isinstance(callee, NameExpr | MemberExpr):
        return f'"{callee.name}"'
    return "(a task)"
