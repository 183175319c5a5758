"""Read ``template.yaml`` the way SAM would, for a local run.

Why: the local runner must start the functions that ``sam build`` packages,
with the environment, routes and schedule the template gives them, and keep
no second list of any of those. So this module loads the template (with the
CloudFormation short-form tags), applies SAM ``Globals``, and resolves the
intrinsic functions against a local context: parameters (defaults or
overrides), pseudo parameters, and the physical ids of resources that exist
locally (the secrets created in moto, the local function names).

Anything it cannot honour raises ``TemplateError`` with a message that names
the file, the resource and the problem.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

DEFAULT_STACK_NAME: Final = "ringcx-broker-local"
DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT_ID: Final = "123456789012"

FUNCTION_TYPE: Final = "AWS::Serverless::Function"
LAYER_TYPE: Final = "AWS::Serverless::LayerVersion"
API_TYPE: Final = "AWS::Serverless::Api"
SECRET_TYPE: Final = "AWS::SecretsManager::Secret"

# SAM's defaults for properties a function may leave out.
SAM_DEFAULT_TIMEOUT: Final = 3.0
SAM_DEFAULT_MEMORY: Final = 128
IMPLICIT_API: Final = "ServerlessRestApi"
IMPLICIT_STAGE: Final = "Prod"

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


class TemplateError(Exception):
    """The template is missing, malformed, or uses something a local run cannot honour."""


class _NoValue:
    """``AWS::NoValue``: the property is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


# -- loading -----------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short forms into their long forms."""


_SHORT_FORMS: Final = (
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "FindInMap",
    "Equals",
    "Not",
    "And",
    "Or",
    "Select",
    "Split",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Cidr",
    "Length",
    "ToJsonString",
    "Transform",
)


def _construct_short_form(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


def _short_form_constructor(name: str) -> Callable[[CfnLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
        return _construct_short_form(loader, name, node)

    return construct


def _register_short_forms() -> None:
    for name in _SHORT_FORMS:
        CfnLoader.add_constructor(f"!{name}", _short_form_constructor(name))


_register_short_forms()


def load_document(path: Path) -> dict[str, Any]:
    """Parse the template file; every failure names the file and the problem."""
    if not path.is_file():
        raise TemplateError(
            f"template not found: {path} (run from the repository root or pass --template PATH)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    try:
        document = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TemplateError(f"{path} is not a valid template: {exc.problem}{where}") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path} is not a valid template: {exc}") from exc
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a valid template: the top level must be a mapping")
    resources = document.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError(f"{path} is not a valid template: it has no Resources section")
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(f"{path}: resource {logical_id} has no Type")
    return document


# -- what a local run needs --------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalContext:
    """Everything the template refers to that only exists at deploy time."""

    stack_name: str = DEFAULT_STACK_NAME
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    parameters: Mapping[str, str] = field(default_factory=dict)
    physical_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One ``Type: Api`` event: ``Method Path`` served by ``function``."""

    path: str
    method: str
    function: str
    event_name: str
    api: str


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """One ``Type: Schedule`` event, with its rate parsed to seconds."""

    function: str
    event_name: str
    expression: str
    period_seconds: float
    enabled: bool
    input: str | None


@dataclass(frozen=True, slots=True)
class RestApi:
    logical_id: str
    stage: str
    binary_media_types: tuple[str, ...]
    default_authorizer: str | None


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A function as Lambda would run it: code, layers, handler and environment."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    layer_dirs: tuple[Path, ...]
    environment: Mapping[str, str]
    timeout: float
    memory_mb: int
    reserved_concurrency: int | None


@dataclass(frozen=True, slots=True)
class ResolvedTemplate:
    path: Path
    context: LocalContext
    functions: Mapping[str, FunctionSpec]
    routes: tuple[ApiRoute, ...]
    schedules: tuple[ScheduleRule, ...]
    apis: Mapping[str, RestApi]
    ignored_events: tuple[str, ...]

    def function_named(self, name_or_logical_id: str) -> FunctionSpec | None:
        spec = self.functions.get(name_or_logical_id)
        if spec is not None:
            return spec
        return next((f for f in self.functions.values() if f.name == name_or_logical_id), None)


@dataclass(frozen=True, slots=True)
class SecretLayout:
    """The template's secrets: the credentials secret and the token ring's slots."""

    credentials: str
    ring: tuple[str, ...]


class Template:
    """A loaded SAM template; ``resolve`` gives the local view of it."""

    def __init__(self, path: Path, document: Mapping[str, Any]) -> None:
        self.path = path
        self.root = path.parent
        self.document = document
        self.resources: Mapping[str, Mapping[str, Any]] = document["Resources"]

    @classmethod
    def load(cls, path: str | Path) -> Template:
        resolved = Path(path).resolve()
        return cls(resolved, load_document(resolved))

    def logical_ids(self, resource_type: str) -> list[str]:
        return [k for k, v in self.resources.items() if v.get("Type") == resource_type]

    def parameter_defaults(self) -> dict[str, str | None]:
        params = self.document.get("Parameters") or {}
        return {
            name: None if "Default" not in spec else _scalar_text(spec["Default"])
            for name, spec in params.items()
            if isinstance(spec, dict)
        }

    def secret_layout(self) -> SecretLayout:
        """Which secret holds the credentials (the one ``CREDENTIALS_SECRET_ID`` names)."""
        secrets = self.logical_ids(SECRET_TYPE)
        credentials = {
            target
            for props in self._function_properties()
            if (target := _ref_target(_env_vars(props).get("CREDENTIALS_SECRET_ID"))) is not None
        }
        if len(credentials) != 1 or not credentials <= set(secrets):
            raise TemplateError(
                f"{self.path}: expected exactly one AWS::SecretsManager::Secret referenced by "
                f"CREDENTIALS_SECRET_ID, found {sorted(credentials) or 'none'}"
            )
        (creds,) = credentials
        return SecretLayout(creds, tuple(s for s in secrets if s != creds))

    def check_parameters(self, overrides: Mapping[str, str]) -> None:
        """Validate overrides now, before anything slow starts."""
        _effective_parameters(self, overrides)

    def resolve(self, context: LocalContext | None = None) -> ResolvedTemplate:
        return _Resolver(self, context or LocalContext()).template()

    def _function_properties(self) -> list[Mapping[str, Any]]:
        globals_ = _globals(self.document, "Function")
        return [
            _merge_globals(globals_, self.resources[f].get("Properties") or {})
            for f in self.logical_ids(FUNCTION_TYPE)
        ]


# -- resolution --------------------------------------------------------------


class _Resolver:
    def __init__(self, template: Template, context: LocalContext) -> None:
        self.t = template
        self.ctx = context
        self.params = _effective_parameters(template, context.parameters)
        self._conditions: dict[str, bool] = {}

    # entry point

    def template(self) -> ResolvedTemplate:
        function_ids = self.t.logical_ids(FUNCTION_TYPE)
        if not function_ids:
            raise TemplateError(f"{self.t.path}: no {FUNCTION_TYPE} resources to run")
        globals_ = _globals(self.t.document, "Function")
        functions: dict[str, FunctionSpec] = {}
        routes: list[ApiRoute] = []
        schedules: list[ScheduleRule] = []
        ignored: list[str] = []
        for logical_id in function_ids:
            props = _merge_globals(globals_, self.t.resources[logical_id].get("Properties") or {})
            functions[logical_id] = self._function(logical_id, props)
            events = props.get("Events") or {}
            if not isinstance(events, dict):
                raise TemplateError(f"{self.t.path}: {logical_id}.Events must be a mapping")
            for event_name, event in events.items():
                where = f"{logical_id}.Events.{event_name}"
                kind = event.get("Type") if isinstance(event, dict) else None
                eprops = (event.get("Properties") or {}) if isinstance(event, dict) else {}
                if kind == "Api":
                    routes.append(self._route(logical_id, event_name, eprops, where))
                elif kind == "Schedule":
                    schedules.append(self._schedule(logical_id, event_name, eprops, where))
                else:
                    ignored.append(f"{where} (Type {kind})")
        _check_duplicate_routes(self.t.path, routes)
        apis = {r.api: self._api(r.api) for r in routes}
        return ResolvedTemplate(
            path=self.t.path,
            context=self.ctx,
            functions=functions,
            routes=tuple(routes),
            schedules=tuple(schedules),
            apis=apis,
            ignored_events=tuple(ignored),
        )

    # resources

    def _function(self, logical_id: str, props: Mapping[str, Any]) -> FunctionSpec:
        where = f"{logical_id}"
        code_uri = self._text(props.get("CodeUri"), f"{where}.CodeUri")
        code_dir = self._local_dir(code_uri, f"{where}.CodeUri")
        handler = self._text(props.get("Handler"), f"{where}.Handler")
        module = handler.rpartition(".")[0]
        if not module:
            raise TemplateError(
                f"{self.t.path}: {where}.Handler {handler!r} is not module.function"
            )
        module_file = code_dir / (module.replace(".", "/") + ".py")
        if not module_file.is_file():
            raise TemplateError(
                f"{self.t.path}: {where}.Handler {handler!r} needs {module_file}, which is missing"
            )
        name = self._optional_text(props.get("FunctionName"), f"{where}.FunctionName")
        name = name or f"{self.ctx.stack_name}-{logical_id}"
        reserved = self.value(props.get("ReservedConcurrentExecutions"), where)
        return FunctionSpec(
            logical_id=logical_id,
            name=name,
            arn=self.function_arn(name),
            code_dir=code_dir,
            handler=handler,
            runtime=self._text(props.get("Runtime"), f"{where}.Runtime"),
            layer_dirs=self._layers(props.get("Layers"), f"{where}.Layers"),
            environment=self._environment(props, where),
            timeout=self._number(props.get("Timeout", SAM_DEFAULT_TIMEOUT), f"{where}.Timeout"),
            memory_mb=int(
                self._number(props.get("MemorySize", SAM_DEFAULT_MEMORY), f"{where}.MemorySize")
            ),
            reserved_concurrency=(
                None
                if reserved is None or reserved is NO_VALUE
                else int(self._number(reserved, f"{where}.ReservedConcurrentExecutions"))
            ),
        )

    def _layers(self, layers: object, where: str) -> tuple[Path, ...]:
        if layers is None:
            return ()
        if not isinstance(layers, list):
            raise TemplateError(f"{self.t.path}: {where} must be a list")
        dirs: list[Path] = []
        for item in layers:
            target = _ref_target(item)
            resource = self.t.resources.get(target or "")
            if resource is None or resource.get("Type") != LAYER_TYPE:
                raise TemplateError(
                    f"{self.t.path}: {where} entry {item!r} is not a !Ref to an "
                    f"{LAYER_TYPE} in this template; a local run cannot load it"
                )
            props = resource.get("Properties") or {}
            content = self._text(props.get("ContentUri"), f"{target}.ContentUri")
            dirs.append(self._local_dir(content, f"{target}.ContentUri"))
        return tuple(dirs)

    def _environment(self, props: Mapping[str, Any], where: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, raw in _env_vars(props).items():
            value = self.value(raw, f"{where}.Environment.Variables.{name}")
            if value is NO_VALUE:
                continue
            env[str(name)] = self._env_text(value, f"{where}.Environment.Variables.{name}")
        return env

    def _route(
        self, function: str, event_name: str, props: Mapping[str, Any], where: str
    ) -> ApiRoute:
        path = self._text(props.get("Path"), f"{where}.Path")
        if not path.startswith("/"):
            raise TemplateError(f"{self.t.path}: {where}.Path {path!r} must start with /")
        method = self._text(props.get("Method"), f"{where}.Method").upper()
        api_ref = props.get("RestApiId")
        api = IMPLICIT_API if api_ref is None else _ref_target(api_ref)
        if api is None or (api != IMPLICIT_API and api not in self.t.logical_ids(API_TYPE)):
            raise TemplateError(
                f"{self.t.path}: {where}.RestApiId must be a !Ref to an {API_TYPE}, got {api_ref!r}"
            )
        return ApiRoute(path=path, method=method, function=function, event_name=event_name, api=api)

    def _schedule(
        self, function: str, event_name: str, props: Mapping[str, Any], where: str
    ) -> ScheduleRule:
        expression = self._text(props.get("Schedule"), f"{where}.Schedule")
        enabled = self.value(props.get("Enabled", True), f"{where}.Enabled")
        raw_input = self.value(props.get("Input"), f"{where}.Input")
        return ScheduleRule(
            function=function,
            event_name=event_name,
            expression=expression,
            period_seconds=parse_rate(expression, f"{self.t.path}: {where}.Schedule"),
            enabled=str(enabled).lower() != "false",
            input=None if raw_input is None or raw_input is NO_VALUE else str(raw_input),
        )

    def _api(self, logical_id: str) -> RestApi:
        if logical_id == IMPLICIT_API:
            return RestApi(IMPLICIT_API, IMPLICIT_STAGE, (), None)
        props = _merge_globals(
            _globals(self.t.document, "Api"), self.t.resources[logical_id].get("Properties") or {}
        )
        stage = self._text(props.get("StageName"), f"{logical_id}.StageName")
        raw_types = self.value(props.get("BinaryMediaTypes"), f"{logical_id}.BinaryMediaTypes")
        if raw_types is None or raw_types is NO_VALUE:
            raw_types = []
        if not isinstance(raw_types, list):
            raise TemplateError(f"{self.t.path}: {logical_id}.BinaryMediaTypes must be a list")
        auth = props.get("Auth") or {}
        authorizer = self.value(auth.get("DefaultAuthorizer"), f"{logical_id}.Auth")
        return RestApi(
            logical_id=logical_id,
            stage=stage,
            # SAM escapes "/" as "~1" (JSON pointer style) in BinaryMediaTypes.
            binary_media_types=tuple(str(t).replace("~1", "/") for t in raw_types),
            default_authorizer=None if authorizer in (None, NO_VALUE) else str(authorizer),
        )

    # intrinsic functions

    def value(self, node: object, where: str) -> Any:  # noqa: C901 - one branch per intrinsic
        """Resolve a template value; lists and maps are resolved deeply."""
        if isinstance(node, list):
            items = [self.value(item, where) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg, where)
            if key == "Fn::Sub":
                return self._sub(arg, where)
            if key == "Fn::GetAtt":
                return self._get_att(arg, where)
            if key == "Fn::Join":
                return self._join(arg, where)
            if key == "Fn::FindInMap":
                return self._find_in_map(arg, where)
            if key == "Fn::If":
                return self._if(arg, where)
            if key == "Fn::Select":
                return self._select(arg, where)
            if key == "Fn::Split":
                return self._split(arg, where)
            if key == "Fn::Base64":
                return base64.b64encode(self._text(arg, where).encode()).decode()
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(
                    f"{self.t.path}: {where}: {key} is not supported by the local runner"
                )
        resolved = {k: self.value(v, f"{where}.{k}") for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: object, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{self.t.path}: {where}: !Ref needs a name, got {name!r}")
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.params:
            return self.params[name]
        resource = self.t.resources.get(name)
        if resource is None:
            raise TemplateError(
                f"{self.t.path}: {where}: !Ref {name} names no parameter or resource"
            )
        if name in self.ctx.physical_ids:
            return self.ctx.physical_ids[name]
        kind = resource["Type"]
        if kind == FUNCTION_TYPE:
            props = resource.get("Properties") or {}
            explicit = props.get("FunctionName")
            return self._text(explicit, where) if explicit else f"{self.ctx.stack_name}-{name}"
        if kind == SECRET_TYPE:
            raise TemplateError(
                f"{self.t.path}: {where}: !Ref {name}: the secret has no local ARN "
                "(it must be created before the template is resolved)"
            )
        if kind == LAYER_TYPE:
            return (
                f"arn:aws:lambda:{self.ctx.region}:{self.ctx.account_id}:"
                f"layer:{self.ctx.stack_name}-{name}:1"
            )
        return f"{self.ctx.stack_name}-{name}"

    def _pseudo(self, name: str) -> object | None:
        table: dict[str, object] = {
            "AWS::Region": self.ctx.region,
            "AWS::AccountId": self.ctx.account_id,
            "AWS::StackName": self.ctx.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.ctx.region}:{self.ctx.account_id}:"
                f"stack/{self.ctx.stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        return table.get(name)

    def _get_att(self, arg: object, where: str) -> str:
        if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg)):
            raise TemplateError(f"{self.t.path}: {where}: !GetAtt needs Resource.Attribute")
        name, attribute = arg
        resource = self.t.resources.get(name)
        if resource is None:
            raise TemplateError(f"{self.t.path}: {where}: !GetAtt {name} names no resource")
        if resource["Type"] == FUNCTION_TYPE and attribute == "Arn":
            return self.function_arn(str(self._ref(name, where)))
        if resource["Type"] == SECRET_TYPE and attribute == "Id":
            return str(self._ref(name, where))
        raise TemplateError(
            f"{self.t.path}: {where}: !GetAtt {name}.{attribute} is not supported locally"
        )

    def _sub(self, arg: object, where: str) -> str:
        variables: Mapping[str, Any] = {}
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, variables = arg[0], {k: self.value(v, where) for k, v in arg[1].items()}
        else:
            text = arg
        if not isinstance(text, str):
            raise TemplateError(f"{self.t.path}: {where}: !Sub needs a string")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self._env_text(variables[name], where)
            if "." in name and not name.startswith("AWS::"):
                return self._get_att(name.split(".", 1), where)
            return self._env_text(self._ref(name, where), where)

        return _SUB_VAR.sub(replace, text)

    def _join(self, arg: object, where: str) -> str:
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TemplateError(f"{self.t.path}: {where}: !Join needs [delimiter, list]")
        items = self.value(arg[1], where)
        if not isinstance(items, list):
            raise TemplateError(f"{self.t.path}: {where}: !Join's second argument must be a list")
        return arg[0].join(self._env_text(item, where) for item in items)

    def _find_in_map(self, arg: object, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise TemplateError(
                f"{self.t.path}: {where}: !FindInMap needs [MapName, TopKey, SecondKey]"
            )
        map_name, top, second = (self._env_text(self.value(a, where), where) for a in arg)
        mappings = self.t.document.get("Mappings") or {}
        table = mappings.get(map_name)
        if not isinstance(table, dict):
            raise TemplateError(f"{self.t.path}: {where}: !FindInMap: no Mappings.{map_name}")
        row = table.get(top)
        if not isinstance(row, dict) or second not in row:
            raise TemplateError(
                f"{self.t.path}: {where}: !FindInMap: Mappings.{map_name} has no "
                f"entry [{top!r}][{second!r}]"
            )
        return row[second]

    def _if(self, arg: object, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateError(
                f"{self.t.path}: {where}: !If needs [Condition, ValueIfTrue, ValueIfFalse]"
            )
        chosen = arg[1] if self.condition(arg[0], where) else arg[2]
        return self.value(chosen, where)

    def _select(self, arg: object, where: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"{self.t.path}: {where}: !Select needs [index, list]")
        index = int(self._number(self.value(arg[0], where), where))
        items = self.value(arg[1], where)
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateError(f"{self.t.path}: {where}: !Select index {index} is out of range")
        return items[index]

    def _split(self, arg: object, where: str) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TemplateError(f"{self.t.path}: {where}: !Split needs [delimiter, string]")
        return self._text(arg[1], where).split(arg[0])

    def condition(self, name: str, where: str) -> bool:
        if name not in self._conditions:
            conditions = self.t.document.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"{self.t.path}: {where}: no condition named {name}")
            self._conditions[name] = self._evaluate(conditions[name], f"Conditions.{name}")
        return self._conditions[name]

    def _evaluate(self, node: object, where: str) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg, where)
            if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
                left, right = (self._env_text(self.value(a, where), where) for a in arg)
                return left == right
            if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
                return not self._evaluate(arg[0], where)
            if key == "Fn::And" and isinstance(arg, list):
                return all(self._evaluate(a, where) for a in arg)
            if key == "Fn::Or" and isinstance(arg, list):
                return any(self._evaluate(a, where) for a in arg)
        raise TemplateError(f"{self.t.path}: {where}: cannot evaluate condition {node!r}")

    # typed helpers

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.ctx.region}:{self.ctx.account_id}:function:{name}"

    def _text(self, node: object, where: str) -> str:
        value = self.value(node, where)
        if value is None or value is NO_VALUE:
            raise TemplateError(f"{self.t.path}: {where} is missing")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise TemplateError(f"{self.t.path}: {where} must be a string, got {value!r}")
        return str(value)

    def _optional_text(self, node: object, where: str) -> str | None:
        return None if node is None else self._text(node, where)

    def _number(self, node: object, where: str) -> float:
        value = self.value(node, where)
        try:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"{self.t.path}: {where} must be a number, got {value!r}") from exc

    def _env_text(self, value: object, where: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise TemplateError(f"{self.t.path}: {where} must resolve to a string, got {value!r}")

    def _local_dir(self, uri: str, where: str) -> Path:
        if uri.startswith("s3://"):
            raise TemplateError(f"{self.t.path}: {where} {uri!r} is not a local directory")
        path = (self.t.root / uri).resolve()
        if not path.is_dir():
            raise TemplateError(f"{self.t.path}: {where} {uri!r} does not exist ({path})")
        return path


# -- helpers -----------------------------------------------------------------


def parse_rate(expression: str, where: str = "schedule") -> float:
    """``rate(1 minute)`` -> 60.0. EventBridge wants the singular unit for 1 only."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise TemplateError(
            f"{where}: {expression!r} is not a rate(N unit) expression "
            "(cron schedules are not supported by the local runner)"
        )
    count, unit = int(match.group(1)), match.group(2)
    if count < 1 or (count == 1) == unit.endswith("s"):
        raise TemplateError(
            f"{where}: {expression!r} is invalid: use 'rate(1 minute)' or 'rate(N minutes)'"
        )
    return float(count * _UNIT_SECONDS[unit.rstrip("s")])


def _effective_parameters(template: Template, overrides: Mapping[str, str]) -> dict[str, Any]:
    declared = template.document.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(
            f"{template.path}: unknown parameter(s) {', '.join(unknown)}; "
            f"the template declares {', '.join(declared) or 'none'}"
        )
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in overrides:
            raw: str | None = overrides[name]
        else:
            raw = _scalar_text(spec["Default"]) if "Default" in spec else None
        if raw is None:
            raise TemplateError(
                f"{template.path}: parameter {name} has no Default; pass --param {name}=VALUE"
            )
        values[name] = _check_parameter(template.path, name, spec, raw)
    return values


def _check_parameter(path: Path, name: str, spec: Mapping[str, Any], raw: str) -> Any:
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and raw not in {_scalar_text(a) for a in allowed}:
        choices = ", ".join(_scalar_text(a) for a in allowed)
        raise TemplateError(f"{path}: parameter {name}={raw!r} is not one of: {choices}")
    kind = spec.get("Type", "String")
    if kind == "Number":
        try:
            number = float(raw)
        except ValueError as exc:
            raise TemplateError(f"{path}: parameter {name}={raw!r} must be a number") from exc
        low, high = spec.get("MinValue"), spec.get("MaxValue")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            raise TemplateError(f"{path}: parameter {name}={raw} is outside [{low}, {high}]")
    if kind == "CommaDelimitedList":
        return [item.strip() for item in raw.split(",")]
    return raw


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _globals(document: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    globals_ = document.get("Globals") or {}
    value = globals_.get(section) if isinstance(globals_, dict) else None
    return value if isinstance(value, dict) else {}


def _merge_globals(globals_: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's rule: maps merge (resource wins), lists add up (globals first), scalars override."""
    merged: dict[str, Any] = dict(globals_)
    for key, value in props.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = _merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = [*base, *value]
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in {"Ref", "Condition"} | {
        f"Fn::{n}" for n in _SHORT_FORMS
    }


def _env_vars(props: Mapping[str, Any]) -> Mapping[str, Any]:
    environment = props.get("Environment") or {}
    variables = environment.get("Variables") if isinstance(environment, dict) else None
    return variables if isinstance(variables, dict) else {}


def _ref_target(node: object) -> str | None:
    if isinstance(node, dict) and len(node) == 1 and isinstance(node.get("Ref"), str):
        return str(node["Ref"])
    return None


def _check_duplicate_routes(path: Path, routes: Sequence[ApiRoute]) -> None:
    seen: dict[tuple[str, str, str], ApiRoute] = {}
    for route in routes:
        key = (route.api, route.path.rstrip("/") or "/", route.method)
        if key in seen:
            other = seen[key]
            raise TemplateError(
                f"{path}: {route.method} {route.path} is served twice "
                f"({other.function}.{other.event_name} and {route.function}.{route.event_name})"
            )
        seen[key] = route
