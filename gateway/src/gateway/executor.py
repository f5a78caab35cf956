"""Operation preparation (parse, validate, plan, compile the response shape) and execution.

Everything that depends only on the document is computed once and cached by the raw query
string; a request then only sends pre-printed subgraph queries, merges the answers into one
tree and walks that tree once to shape the client's response (field order, aliases, null
propagation).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    execute,
    get_named_type,
    is_abstract_type,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import VariableNode

from gateway import telemetry
from gateway.authz import (
    Coordinate,
    Guard,
    PolicyEvaluator,
    Requirement,
    RolePolicies,
    guard_for,
    protected_coordinates,
    strip_fields,
)
from gateway.complete import (
    BUBBLE,
    ENUM,
    INTROSPECTION,
    LEAF,
    OBJECT,
    TYPENAME,
    CompiledFn,
    Compiler,
    Context,
    ObjShape,
    TypeWrap,
)
from gateway.http import HttpPool, SubgraphHTTPError
from gateway.limits import Analyzer, LimitExceeded, Stats, count_tokens
from gateway.planner import (
    INTROSPECTION_ROOT_FIELDS,
    Batch,
    Fetch,
    Plan,
    Planner,
    PlanningError,
    build_representation,
    rename_keys,
)
from gateway.resilience import CircuitBreaker, backoff_delay
from gateway.supergraph import Supergraph
from kopano.auth import Principal
from kopano.logging import get_logger


def _wrap(t: GraphQLOutputType) -> TypeWrap:
    nonnull = False
    if isinstance(t, GraphQLNonNull):
        nonnull = True
        t = t.of_type
    if isinstance(t, GraphQLList):
        return TypeWrap(nonnull, _wrap(t.of_type))
    return TypeWrap(nonnull, None)


@dataclass(slots=True)
class Prepared:
    plan: Plan
    complete: CompiledFn
    introspection: DocumentNode | None
    op_kind: str
    operation: OperationDefinitionNode
    has_variables: bool


class OperationError(Exception):
    """A request error (syntax, validation, unknown operation): no data, errors only."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "error")
        self.errors = errors


def _err(e: GraphQLError, code: str | None = None) -> dict[str, Any]:
    """A client-facing error; `code` is the stable `extensions.code` unless the error has one."""
    d: dict[str, Any] = {"message": e.message}
    if e.locations:
        d["locations"] = [{"line": loc.line, "column": loc.column} for loc in e.locations]
    if e.path:
        d["path"] = list(e.path)
    if e.extensions:
        d["extensions"] = e.extensions
    elif code is not None:
        d["extensions"] = {"code": code}
    return d


def _request_error(message: str, code: str = "GRAPHQL_VALIDATION_FAILED") -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


class Document:
    """A parsed, validated client document; plans cached per (operation, conditions)."""

    __slots__ = (
        "cond_vars",
        "document",
        "fragments",
        "gateway",
        "guard",
        "operation",
        "prepared",
        "shape_source",
        "stats",
        "variants",
    )

    def __init__(self, gateway: Gateway, query: str, operation_name: str | None) -> None:
        self.gateway = gateway
        max_tokens = gateway.max_tokens
        if max_tokens and count_tokens(query, max_tokens) > max_tokens:
            # Counted before parsing: a huge document never reaches the parser.
            raise OperationError(
                [LimitExceeded("TOO_MANY_TOKENS", f"Query exceeds {max_tokens} tokens.").error()]
            )
        try:
            doc = parse(query, max_tokens=max_tokens or None)
        except GraphQLError as e:
            raise OperationError([_err(e, "GRAPHQL_PARSE_FAILED")]) from e
        errs = validate(gateway.schema, doc)
        if errs:
            raise OperationError([_err(e, "GRAPHQL_VALIDATION_FAILED") for e in errs])
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name:
            ops = [o for o in ops if o.name and o.name.value == operation_name]
            if not ops:
                raise OperationError(
                    [_request_error(f"Unknown operation named '{operation_name}'.")]
                )
        elif len(ops) > 1:
            raise OperationError(
                [
                    _request_error(
                        "Must provide operation name if query contains multiple operations."
                    )
                ]
            )
        if ops[0].operation.value == "subscription":
            raise OperationError(
                [
                    _request_error(
                        "Subscriptions are not supported by the gateway.",
                        "SUBSCRIPTIONS_NOT_SUPPORTED",
                    )
                ]
            )
        self.document = doc
        self.operation = ops[0]
        self.fragments = {
            d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.cond_vars = self._condition_variables()
        self.prepared: dict[tuple[Any, ...], Prepared] = {}
        # the original operation and fragments, when this is a variant with fields removed
        self.shape_source: tuple[OperationDefinitionNode, dict[str, Any]] | None = None
        self.guard: Guard | None = guard_for(
            gateway.schema, self.operation, self.fragments, gateway.protected
        )
        self.stats: Stats | None = None
        self.variants: dict[frozenset[Coordinate], Document] = {}

    def variant(self, denied: frozenset[Coordinate]) -> Document:
        """This document without the denied fields (planned without them; the response
        shape keeps them, so they read as null)."""
        v = self.variants.get(denied)
        if v is None:
            v = object.__new__(Document)
            op, frags = strip_fields(self.gateway.schema, self.operation, self.fragments, denied)
            v.gateway = self.gateway
            v.document = self.document
            v.operation = op
            v.fragments = frags
            v.cond_vars = self.cond_vars
            v.prepared = {}
            v.shape_source = (self.operation, self.fragments)
            v.guard = None
            v.stats = self.stats
            v.variants = {}
            self.variants[denied] = v
        return v

    def _condition_variables(self) -> tuple[str, ...]:
        names: set[str] = set()

        def walk(sel: SelectionSetNode | None) -> None:
            if sel is None:
                return
            for s in sel.selections:
                for d in s.directives or ():
                    if d.name.value in ("skip", "include"):
                        for a in d.arguments or ():
                            if isinstance(a.value, VariableNode):
                                names.add(a.value.name.value)
                walk(getattr(s, "selection_set", None))

        walk(self.operation.selection_set)
        for f in self.fragments.values():
            walk(f.selection_set)
        return tuple(sorted(names))

    def prepare(self, variables: dict[str, Any]) -> Prepared:
        if self.cond_vars:
            defaults = {
                v.variable.name.value: getattr(v.default_value, "value", None)
                for v in self.operation.variable_definitions or ()
            }
            key = tuple(bool(variables.get(n, defaults.get(n))) for n in self.cond_vars)
            conditions = dict(zip(self.cond_vars, key, strict=True))
        else:
            key = ()
            conditions = {}
        p = self.prepared.get(key)
        if p is None:
            p = self._prepare(conditions)
            self.prepared[key] = p
        return p

    def _prepare(self, conditions: dict[str, Any]) -> Prepared:
        sg = self.gateway.supergraph
        planner = Planner(sg, self.operation, self.fragments, conditions)
        plan = planner.plan()
        op_kind = self.operation.operation.value
        root_type = self.gateway.schema.get_root_type(self.operation.operation)
        assert root_type is not None
        if self.shape_source is None:
            shape = self._shape(planner, root_type, self.operation.selection_set.selections)
        else:
            sop, sfrags = self.shape_source
            shaper = Planner(sg, sop, sfrags, conditions)
            shape = self._shape(shaper, root_type, sop.selection_set.selections)
        complete = Compiler(self.gateway.hidden).compile(shape)
        intro = None
        root_fields = planner.collect(root_type.name, self.operation.selection_set.selections)
        if any(ns[0].name.value in INTROSPECTION_ROOT_FIELDS for ns in root_fields.values()):
            # Only the introspection root fields run locally (graphql-core); the rest is
            # planned above.
            op = self.operation
            only = OperationDefinitionNode(
                operation=op.operation,
                name=op.name,
                variable_definitions=op.variable_definitions,
                directives=op.directives,
                selection_set=SelectionSetNode(
                    selections=tuple(
                        n
                        for ns in root_fields.values()
                        for n in ns
                        if n.name.value in INTROSPECTION_ROOT_FIELDS
                    )
                ),
            )
            intro = DocumentNode(definitions=(only, *self.fragments.values()))
        return Prepared(
            plan,
            complete,
            intro,
            op_kind,
            self.operation,
            bool(self.operation.variable_definitions),
        )

    def _shape(self, planner: Planner, parent: Any, selections: Any) -> ObjShape:
        schema = self.gateway.schema
        shape = ObjShape()
        if is_abstract_type(parent):
            shape.by_type = {}
            for t in schema.get_possible_types(parent):
                shape.by_type[t.name] = self._fields(planner, t, selections)
            shape.default = self._fields(planner, parent, selections)
        else:
            shape.static = parent.name
            shape.default = self._fields(planner, parent, selections)
        return shape

    def _fields(self, planner: Planner, parent: Any, selections: Any) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        collected = planner.collect(parent.name, selections)
        for key, nodes in collected.items():
            first: FieldNode = nodes[0]
            name = first.name.value
            if name == "__typename":
                out.append((key, TYPENAME, None, None))
                continue
            if name in INTROSPECTION_ROOT_FIELDS:
                out.append((key, INTROSPECTION, None, None))
                continue
            fdef = parent.fields.get(name) if hasattr(parent, "fields") else None
            if fdef is None:
                continue
            tw = _wrap(fdef.type)
            named = get_named_type(fdef.type)
            if isinstance(named, GraphQLEnumType):
                out.append((key, ENUM, tw, frozenset(named.values)))
            elif isinstance(named, GraphQLObjectType) or is_abstract_type(named):
                subsel: list[Any] = []
                for n in nodes:
                    if n.selection_set is not None:
                        subsel.extend(n.selection_set.selections)
                out.append((key, OBJECT, tw, self._shape(planner, named, subsel)))
            else:
                out.append((key, LEAF, tw, None))
        return out


log = get_logger("gateway.executor")

# Codes whose messages the services write for clients (kopano.errors): shown when masking.
SAFE_CODES = frozenset(
    {
        "BAD_USER_INPUT",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "CONFLICT",
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_PARSE_FAILED",
    }
)


class _Retryable(SubgraphHTTPError):
    """A gateway-side transient answer (502/503/504)."""


# -- merging ---------------------------------------------------------------------------------


def deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        cur = dst.get(k)
        if cur is None:
            dst[k] = v
        elif isinstance(v, dict):
            if isinstance(cur, dict):
                deep_merge(cur, v)
            else:
                dst[k] = v
        elif isinstance(v, list) and isinstance(cur, list) and len(cur) == len(v):
            _merge_list(cur, v)
        elif v is not None:
            dst[k] = v


def merge_entity(dst: dict[str, Any], src: dict[str, Any]) -> None:
    """Merge one `_entities` result into an object. Objects resolved from the same
    representation share the (identical) nested values; that is safe because later fetches
    only add fields and do so identically for every sharer."""
    for k, v in src.items():
        cur = dst.get(k)
        if cur is None:
            dst[k] = v
        elif isinstance(v, dict) and isinstance(cur, dict):
            if cur is not v:
                deep_merge(cur, v)
        elif isinstance(v, list) and isinstance(cur, list):
            if cur is not v and len(cur) == len(v):
                _merge_list(cur, v)
        elif v is not None:
            dst[k] = v


def _merge_list(dst: list[Any], src: list[Any]) -> None:
    for i, v in enumerate(src):
        cur = dst[i]
        if isinstance(v, dict) and isinstance(cur, dict):
            deep_merge(cur, v)
        elif isinstance(v, list) and isinstance(cur, list) and len(cur) == len(v):
            _merge_list(cur, v)
        elif cur is None:
            dst[i] = v


def _collect_targets(data: dict[str, Any], path: tuple[str, ...]) -> list[dict[str, Any]]:
    objs: list[Any] = [data]
    for key in path:
        nxt: list[Any] = []
        for o in objs:
            v = o.get(key)
            if v is None:
                continue
            if isinstance(v, list):
                _flatten(v, nxt)
            else:
                nxt.append(v)
        objs = nxt
    return objs


def _flatten(v: list[Any], out: list[Any]) -> None:
    for x in v:
        if isinstance(x, list):
            _flatten(x, out)
        elif isinstance(x, dict):
            out.append(x)


def _find_path(node: Any, target: Any, path: list[Any]) -> list[Any] | None:
    """Response path of `target` inside `node` (only computed when an error needs it)."""
    if node is target:
        return path
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict | list):
                got = _find_path(v, target, [*path, k])
                if got is not None:
                    return got
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, dict | list):
                got = _find_path(v, target, [*path, i])
                if got is not None:
                    return got
    return None


# -- gateway -------------------------------------------------------------------------------


class Gateway:
    """Holds the supergraph, the document cache and the subgraph connection pool."""

    def __init__(
        self,
        supergraph: Supergraph,
        *,
        dedup: bool = True,
        cache_size: int = 2048,
        pool: HttpPool | None = None,
        max_tokens: int = 15_000,
        limits: Mapping[str, int] | None = None,
        limits_mode: str = "enforce",
        authz: str = "enforce",
        policies: PolicyEvaluator | Mapping[str, Sequence[str]] | None = None,
        gateway_token: str = "",
        mask_errors: bool = False,
        introspection: bool = True,
        timeouts: Mapping[str, float] | None = None,
        retries: int = 0,
        retry_backoff: tuple[float, float] = (0.05, 1.0),
        breaker: tuple[int, float] | None = None,
        metrics: bool = True,
        tracer: Any = None,
    ) -> None:
        self.supergraph = supergraph
        self.schema: GraphQLSchema = supergraph.api_schema
        self.dedup = dedup
        self.cache_size = cache_size
        self.documents: OrderedDict[tuple[str, str | None], Document | OperationError] = (
            OrderedDict()
        )
        self.pool = pool or HttpPool()
        self.urls = {g.name: g.url for g in supergraph.graphs.values()}
        self.names = {g.name: g.subgraph for g in supergraph.graphs.values()}
        self.hidden = frozenset(n for n, t in supergraph.types.items() if t.inaccessible)
        self._inflight: dict[tuple[str, bytes, bytes], asyncio.Future[tuple[int, bytes]]] = {}
        self.max_tokens = max_tokens
        self._rejected: OrderedDict[tuple[int, int, str | None], OperationError] = OrderedDict()
        # limit name (depth, aliases, root_fields, cost) -> maximum; only the ones set
        self.limits = {k: v for k, v in (limits or {}).items() if v}
        self.limits_measure = limits_mode == "measure"
        self.analyzer = Analyzer(self.schema, supergraph) if self.limits else None
        self.authz = authz
        self.protected: dict[Coordinate, Requirement] = (
            protected_coordinates(supergraph, self.schema) if authz != "off" else {}
        )
        if policies is None or isinstance(policies, Mapping):
            self.policy: PolicyEvaluator = RolePolicies(policies or {})
        else:
            self.policy = policies
        # Sent on every subgraph fetch: subgraphs accept `_entities` only with it.
        self.static_headers = (
            b"X-Kopano-Gateway-Token: " + gateway_token.encode() + b"\r\n" if gateway_token else b""
        )
        self.mask_errors = mask_errors
        self.introspection = introspection
        by_name = {g.subgraph: g.name for g in supergraph.graphs.values()}
        self.timeouts = {by_name[n]: t for n, t in (timeouts or {}).items() if n in by_name}
        self.retries = retries
        # (base, cap) seconds of the full-jitter exponential backoff between retries
        self.retry_backoff = retry_backoff
        self._sleep = asyncio.sleep
        self._random = random.random
        self.breakers: dict[str, CircuitBreaker] = {}
        if breaker is not None and breaker[0] > 0:
            self.breakers = {g: CircuitBreaker(*breaker) for g in self.urls}
        self.metrics = metrics
        # labelled children resolved once: `labels()` is too costly per fetch
        self._fetch_metrics = {
            g: (
                telemetry.SUBGRAPH_REQUESTS.labels(n, "ok"),
                telemetry.SUBGRAPH_REQUESTS.labels(n, "error"),
                telemetry.SUBGRAPH_LATENCY.labels(n),
            )
            for g, n in self.names.items()
        }
        self._cache_miss = telemetry.PLAN_CACHE.labels("miss")
        self.tracer = tracer

    def document(self, query: str, operation_name: str | None) -> Document:
        key = (query, operation_name)
        doc = self.documents.get(key)
        if doc is None and len(query) > 10_000:
            doc = self._rejected.get((hash(query), len(query), operation_name))
        if doc is None:
            if self.metrics:
                self._cache_miss.inc()
            try:
                doc = Document(self, query, operation_name)
            except OperationError as e:
                if len(query) > 10_000:
                    # Large rejected documents are not kept; only their (randomised,
                    # per-process) hash, so a retry is refused without being read again.
                    self._rejected[(hash(query), len(query), operation_name)] = e
                    if len(self._rejected) > 64:
                        self._rejected.popitem(last=False)
                    raise
                doc = e
            self.documents[key] = doc
            if len(self.documents) > self.cache_size:
                self.documents.popitem(last=False)
        if isinstance(doc, OperationError):
            raise doc
        return doc

    def is_query(self, query: str, operation_name: str | None) -> bool:
        """True for a valid query operation (cached document; never raises)."""
        try:
            return self.document(query, operation_name).operation.operation.value == "query"
        except OperationError:
            return False

    async def execute(
        self,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        auth: bytes = b"",
        *,
        principal: Principal | None = None,
        extra: bytes | None = None,
    ) -> dict[str, Any]:
        """Run one operation; returns the GraphQL response dict."""
        errors: list[dict[str, Any]] = []
        try:
            doc = self.document(query, operation_name)
            variables = variables or {}
            if self.analyzer is not None:
                self.check_limits(doc, variables)
            if doc.guard is not None:
                denied = doc.guard.denied(principal, self.policy)
                if denied:
                    if self.authz == "enforce":
                        errors.extend(doc.guard.errors(denied))
                        doc = doc.variant(frozenset(denied))
                    else:
                        log.warning("authz would deny", fields=sorted(".".join(c) for c in denied))
            prepared = doc.prepare(variables)
        except OperationError as e:
            return {"errors": e.errors}
        except LimitExceeded as e:
            return {"errors": [e.error()]}
        except PlanningError as e:
            return {"errors": [_request_error(str(e), "QUERY_PLANNING_FAILED")], "data": None}
        if prepared.introspection is not None and not self.introspection:
            return {
                "errors": [
                    {
                        "message": "Introspection is disabled.",
                        "extensions": {"code": "INTROSPECTION_DISABLED"},
                    }
                ]
            }
        if prepared.has_variables:
            coerced = get_variable_values(
                self.schema, prepared.operation.variable_definitions or (), variables
            )
            if isinstance(coerced, list):
                return {"errors": [_err(e, "BAD_USER_INPUT") for e in coerced]}
        data: dict[str, Any] = {}
        if extra is None:
            extra = self.static_headers
            if auth:
                extra += b"Authorization: " + auth + b"\r\n"
        for stage in prepared.plan.stages:
            for level in stage:
                if len(level) == 1:
                    await self._unit(level[0], data, variables, errors, extra, prepared.op_kind)
                else:
                    await asyncio.gather(
                        *(
                            self._unit(u, data, variables, errors, extra, prepared.op_kind)
                            for u in level
                        )
                    )
        intro = None
        if prepared.introspection is not None:
            res = execute(  # introspection resolvers are synchronous
                self.schema,
                prepared.introspection,
                variable_values=variables,
                operation_name=operation_name,
            )
            assert isinstance(res, ExecutionResult)
            intro = res.data or {}
            if res.errors:
                errors.extend(_err(e) for e in res.errors)
        completed = prepared.complete(data, Context(errors, intro))
        out: dict[str, Any] = {}
        if errors:
            out["errors"] = errors
        out["data"] = None if completed is BUBBLE else completed
        return out

    _LIMIT_CODES = {
        "depth": ("QUERY_TOO_DEEP", "Query depth {} exceeds the maximum of {}."),
        "aliases": ("TOO_MANY_ALIASES", "Query uses {} aliases; the maximum is {}."),
        "root_fields": ("TOO_MANY_ROOT_FIELDS", "Query selects {} root fields; the maximum is {}."),
        "cost": ("QUERY_TOO_COMPLEX", "Query cost {:g} exceeds the maximum of {}."),
    }

    def check_limits(self, doc: Document, variables: dict[str, Any]) -> None:
        """Raises LimitExceeded (enforce mode) for the first limit the operation is over."""
        assert self.analyzer is not None
        stats = doc.stats
        try:
            if stats is None:
                stats = self.analyzer.analyze(doc.operation, doc.fragments, variables)
                doc.stats = stats
            elif stats.cost_vars and "cost" in self.limits:
                stats = self.analyzer.analyze(doc.operation, doc.fragments, variables)
        except RecursionError:
            # costed input values from variables deeper than the interpreter's stack; the
            # same answer variable coercion would give them
            raise LimitExceeded(
                "BAD_USER_INPUT", "Variable values are nested too deeply."
            ) from None
        if stats.slicing_error is not None and "cost" in self.limits:
            # @listSize(requireOneSlicingArgument:): part of cost analysis, so on with it
            self._limit_hit("INVALID_SLICING_ARGUMENTS", stats.slicing_error, 0)
        for name, maximum in self.limits.items():
            value = getattr(stats, name)
            if value > maximum:
                code, msg = self._LIMIT_CODES[name]
                self._limit_hit(code, msg.format(value, maximum), value)

    def _limit_hit(self, code: str, message: str, value: float) -> None:
        """Counts a limit hit; raises LimitExceeded unless limits are only measured."""
        mode = "measure" if self.limits_measure else "enforce"
        if self.metrics:
            telemetry.REJECTIONS.labels(code, mode).inc()
        if self.limits_measure:
            log.warning("limit exceeded (measure only)", code=code, value=value)
            return
        raise LimitExceeded(code, message)

    async def _post(
        self, graph: str, body: bytes, extra: bytes, dedup: bool, idempotent: bool = False
    ) -> Any:
        if self.tracer is None and not self.metrics and not self.breakers and not self.retries:
            return await self._post_raw(graph, body, extra, dedup)
        t0 = time.perf_counter()
        name = self.names[graph]
        breaker = self.breakers.get(graph)
        if breaker is not None and not breaker.allow():
            if self.metrics:
                telemetry.SUBGRAPH_REQUESTS.labels(name, "circuit_open").inc()
            raise SubgraphHTTPError("circuit open")
        failed = False
        try:
            if self.tracer is not None:
                with self.tracer.start_as_current_span(
                    "subgraph fetch", attributes={"graphql.subgraph": name}
                ):
                    extra = extra + telemetry.traceparent_header()
                    resp = await self._post_retrying(graph, body, extra, dedup, idempotent)
            else:
                resp = await self._post_retrying(graph, body, extra, dedup, idempotent)
        except SubgraphHTTPError:
            failed = True
            if breaker is not None:
                breaker.failure()
                telemetry.CIRCUIT_STATE.labels(name).set(breaker.state)
            raise
        finally:
            if self.metrics:
                ok, err, latency = self._fetch_metrics[graph]
                (err if failed else ok).inc()
                latency.observe(time.perf_counter() - t0)
        if breaker is not None and breaker.state != 0:
            breaker.success()
            telemetry.CIRCUIT_STATE.labels(name).set(breaker.state)
        elif breaker is not None:
            breaker.streak = 0
        return resp

    async def _post_retrying(
        self, graph: str, body: bytes, extra: bytes, dedup: bool, idempotent: bool
    ) -> Any:
        # Only queries are retried: a mutation may have taken effect before the failure.
        if not idempotent or not self.retries:
            return await self._post_raw(graph, body, extra, dedup)
        attempts = 1 + self.retries
        base, cap = self.retry_backoff
        for attempt in range(attempts):
            try:
                return await self._post_raw(graph, body, extra, dedup)
            except _Retryable as exc:
                if attempt + 1 >= attempts:
                    raise SubgraphHTTPError(str(exc)) from None
            except SubgraphHTTPError:
                if attempt + 1 >= attempts:
                    raise
            if base > 0:
                await self._sleep(backoff_delay(attempt, base, cap, self._random))
        raise SubgraphHTTPError("unreachable")  # pragma: no cover

    async def _post_raw(self, graph: str, body: bytes, extra: bytes, dedup: bool) -> Any:
        url = self.urls[graph]
        timeout = self.timeouts.get(graph)
        if not dedup:
            status, raw = await self.pool.post(url, body, extra, timeout)
        else:
            key = (url, body, extra)
            fut = self._inflight.get(key)
            if fut is not None:
                status, raw = await asyncio.shield(fut)
            else:
                fut = asyncio.get_running_loop().create_future()
                self._inflight[key] = fut
                try:
                    status, raw = await self.pool.post(url, body, extra, timeout)
                    fut.set_result((status, raw))
                except BaseException as exc:
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved; waiters re-raise it
                    raise
                finally:
                    del self._inflight[key]
        if status in (502, 503, 504):
            raise _Retryable(f"subgraph answered HTTP {status}")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SubgraphHTTPError(f"subgraph answered HTTP {status} without JSON") from exc

    def _unit(
        self,
        u: Fetch | Batch,
        data: dict[str, Any],
        variables: dict[str, Any],
        errors: list[dict[str, Any]],
        extra: bytes,
        op_kind: str,
    ) -> Awaitable[None]:
        if self.tracer is not None:
            return self._traced_unit(u, data, variables, errors, extra, op_kind)
        if isinstance(u, Batch):
            return self._run_batch(u, data, variables, errors, extra, op_kind)
        return self._run(u, data, variables, errors, extra, op_kind)

    async def _traced_unit(
        self,
        u: Fetch | Batch,
        data: dict[str, Any],
        variables: dict[str, Any],
        errors: list[dict[str, Any]],
        extra: bytes,
        op_kind: str,
    ) -> None:
        fetches = u.fetches if isinstance(u, Batch) else [u]
        attrs = {
            "graphql.subgraph": self.names[u.graph],
            "graphql.plan.paths": [".".join(f.path) or "<root>" for f in fetches],
            "graphql.plan.entity": any(f.entity for f in fetches),
        }
        with self.tracer.start_as_current_span("plan step", attributes=attrs):
            if isinstance(u, Batch):
                await self._run_batch(u, data, variables, errors, extra, op_kind)
            else:
                await self._run(u, data, variables, errors, extra, op_kind)

    async def _run(
        self,
        f: Fetch,
        data: dict[str, Any],
        variables: dict[str, Any],
        errors: list[dict[str, Any]],
        extra: bytes,
        op_kind: str,
    ) -> None:
        dedup = self.dedup and op_kind == "query"
        if not f.entity:
            vs = {v: variables[v] for v in f.variables if v in variables}
            body = orjson.dumps({"query": f.query, "variables": vs} if vs else {"query": f.query})
            try:
                resp = await self._post(f.graph, body, extra, dedup, op_kind == "query")
            except SubgraphHTTPError as e:
                errors.append(self._fetch_error(f, str(e)))
                return
            d = resp.get("data") if isinstance(resp, dict) else None
            if isinstance(d, dict):
                if f.renames:
                    rename_keys(d, f.tree)
                deep_merge(data, d)
            errs = resp.get("errors") if isinstance(resp, dict) else None
            if errs:
                for err in errs:
                    errors.append(self._subgraph_error(f, err, None))
            return
        reps, groups = self._representations(f, data)
        if not reps:
            return
        vs = {v: variables[v] for v in f.variables if v in variables}
        vs["representations"] = reps
        body = orjson.dumps({"query": f.query, "variables": vs})
        try:
            resp = await self._post(f.graph, body, extra, dedup, op_kind == "query")
        except SubgraphHTTPError as e:
            errors.append(self._fetch_error(f, str(e)))
            return
        d = resp.get("data") if isinstance(resp, dict) else None
        self._apply(f, d.get("_entities") if isinstance(d, dict) else None, groups)
        errs = resp.get("errors") if isinstance(resp, dict) else None
        if errs:
            for err in errs:
                errors.append(self._subgraph_error(f, err, (data, groups), "_entities"))

    async def _run_batch(
        self,
        b: Batch,
        data: dict[str, Any],
        variables: dict[str, Any],
        errors: list[dict[str, Any]],
        extra: bytes,
        op_kind: str,
    ) -> None:
        parts: list[tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]] = []
        for members in b.groups:
            reps: list[dict[str, Any]] = []
            groups: list[list[dict[str, Any]]] = []
            index: dict[Any, int] = {}
            for f in members:  # one deduplicated list across all member paths
                self._representations(f, data, reps, groups, index)
            parts.append((reps, groups))
        if not any(reps for reps, _ in parts):
            return
        vs = {v: variables[v] for v in b.variables if v in variables}
        for i, (reps, _) in enumerate(parts):
            vs[f"r{i}"] = reps
        body = orjson.dumps({"query": b.query, "variables": vs})
        try:
            q = op_kind == "query"
            resp = await self._post(b.graph, body, extra, self.dedup and q, q)
        except SubgraphHTTPError as e:
            errors.append(self._fetch_error(b.fetches[0], str(e)))
            return
        d = resp.get("data") if isinstance(resp, dict) else None
        if isinstance(d, dict):
            for i, (members, (_, groups)) in enumerate(zip(b.groups, parts, strict=True)):
                self._apply(members[0], d.get(f"_{i}"), groups)
        errs = resp.get("errors") if isinstance(resp, dict) else None
        if errs:
            for err in errs:
                path = err.get("path") if isinstance(err, dict) else None
                i = -1
                head = ""
                if isinstance(path, list) and path and isinstance(path[0], str):
                    head = path[0]
                    if head.startswith("_") and head[1:].isdigit():
                        i = int(head[1:])
                if 0 <= i < len(parts):
                    ctx = (data, parts[i][1])
                    errors.append(self._subgraph_error(b.groups[i][0], err, ctx, head))
                else:
                    errors.append(self._subgraph_error(b.fetches[0], err, (data, []), ""))

    def _representations(
        self,
        f: Fetch,
        data: dict[str, Any],
        reps: list[dict[str, Any]] | None = None,
        groups: list[list[dict[str, Any]]] | None = None,
        index: dict[Any, int] | None = None,
    ) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
        """Deduplicated representations for `f` and, per representation, its objects
        (appended to the given lists, so several fetches can share them)."""
        if reps is None:
            reps = []
        if groups is None:
            groups = []
        if index is None:
            index = {}
        specs = f.reps
        for obj in _collect_targets(data, f.path):
            tn = obj.get("__typename")
            spec = specs.get(tn)  # type: ignore[arg-type]
            if spec is None:
                continue
            flat = spec.flat
            if flat is not None:
                # Flat representation (scalars only): dedupe on a tuple, build once.
                if len(flat) == 1:
                    rk: Any = (tn, obj.get(flat[0]))
                else:
                    rk = (tn, *[obj.get(src) for src in flat])
                try:
                    i = index.get(rk)
                except TypeError:  # list-valued key field: fall back to the JSON form
                    rk = orjson.dumps(rk)
                    i = index.get(rk)
                if i is not None:
                    groups[i].append(obj)
                    continue
                rep = build_representation(obj, spec.typename, spec.shape)
            else:
                rep = build_representation(obj, spec.typename, spec.shape)
                rk = orjson.dumps(rep)
                i = index.get(rk)
                if i is not None:
                    groups[i].append(obj)
                    continue
            if any(rep.get(k) is None for k in spec.keys):
                continue  # a null key cannot identify an entity
            index[rk] = len(reps)
            reps.append(rep)
            groups.append([obj])
        return reps, groups

    def _apply(self, f: Fetch, ents: Any, groups: list[list[dict[str, Any]]]) -> None:
        if not isinstance(ents, list):
            return
        if f.renames:
            rename_keys(ents, f.tree)
        for i, ent in enumerate(ents):
            if i >= len(groups):
                break
            if isinstance(ent, dict):
                for t in groups[i]:
                    if t.keys().isdisjoint(ent):
                        t.update(ent)
                    else:
                        merge_entity(t, ent)

    def _fetch_error(self, f: Fetch, message: str) -> dict[str, Any]:
        name = self.names[f.graph]
        log.warning("subgraph fetch failed", subgraph=name, error=message)
        # The detail (URL, host, socket error) stays in the log.
        return {
            "message": f"Subgraph '{name}' is unavailable.",
            "path": list(f.path) if f.path else list(f.tree.fields)[:1],
            "extensions": {"code": "SUBGRAPH_FETCH_ERROR", "serviceName": name},
        }

    def _subgraph_error(
        self,
        f: Fetch,
        e: Any,
        entity_ctx: tuple[dict[str, Any], list[list[dict[str, Any]]]] | None,
        field: str = "_entities",
    ) -> dict[str, Any]:
        if not isinstance(e, dict):
            return {"message": str(e)}
        out: dict[str, Any] = {"message": e.get("message", "subgraph error")}
        if self.mask_errors:
            code = (e.get("extensions") or {}).get("code")
            if code not in SAFE_CODES:
                log.warning("subgraph error masked", subgraph=self.names[f.graph], error=e)
                e = {"path": e.get("path"), "extensions": {"code": "INTERNAL"}}
                out["message"] = "Internal error in a subgraph."
            else:
                e = {"path": e.get("path"), "extensions": {"code": code}}
        path = e.get("path")
        if isinstance(path, list):
            if entity_ctx is not None and len(path) >= 2 and path[0] == field:
                data, groups = entity_ctx
                i = path[1]
                if isinstance(i, int) and 0 <= i < len(groups):
                    base = _find_path(data, groups[i][0], [])
                    if base is not None:
                        out["path"] = base + path[2:]
            elif entity_ctx is None:
                out["path"] = path
        ext = dict(e.get("extensions") or {})
        ext.setdefault("serviceName", self.names[f.graph])
        out["extensions"] = ext
        return out

    def explain(self, query: str, operation_name: str | None, variables: dict[str, Any]) -> Any:
        doc = self.document(query, operation_name)
        return doc.prepare(variables).plan.describe()
