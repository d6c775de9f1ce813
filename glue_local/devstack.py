"""Create the stack's stateful resources from ``template.yaml`` itself (for moto in tests and the demo).

The template is the one list of resources: this expands its ``Fn::ForEach`` loops with cfn-lint's
language-extensions transform, resolves its CloudFormation functions for the given parameters, and
creates the DynamoDB tables, SQS queues and CloudWatch alarms it declares, so the tests and the local
demo never keep a second, hand-written copy. ``python -m glue_local.devstack expand --config FILE``
writes the expanded template (``make checkov`` scans it: checkov does not expand loops).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class _Tag:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        return _Tag(suffix, loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return _Tag(suffix, loader.construct_sequence(node, deep=True))
    return _Tag(suffix, loader.construct_mapping(node, deep=True))  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _construct)


def load_template(path: str | Path) -> dict[str, Any]:
    """The raw template with CloudFormation short-form tags kept as unresolved nodes."""
    with open(path, encoding="utf-8") as fh:
        return dict(yaml.load(fh, Loader=_CfnLoader))  # noqa: S506 - SafeLoader subclass


class _NoValue(str):
    """``AWS::NoValue``: an empty string that :meth:`Resolver.resolve` drops from maps and lists."""


_NO_VALUE = _NoValue("")


@dataclass
class Resolver:
    """Resolves Ref/Sub/If/Equals/GetAtt against parameters and the physical names created so far."""

    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)

    def _ref(self, name: str) -> Any:
        param = self.template.get("Parameters", {}).get(name) or {}
        if param.get("Type") == "CommaDelimitedList":
            raw = self.parameters.get(name, param.get("Default", ""))
            return raw if isinstance(raw, list) else str(raw).split(",")
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        if name == "AWS::Region":
            return self.parameters.get("AWS::Region", "eu-west-1")
        if name == "AWS::AccountId":
            return "123456789012"
        if name in ("AWS::StackName",):
            return f"mlops-glue-{self.parameters.get('Stage', 'dev')}"
        if name == "AWS::Partition":
            return "aws"
        if name == "AWS::NoValue":
            return _NO_VALUE
        param = self.template.get("Parameters", {}).get(name)
        if param is not None and "Default" in param:
            return str(param["Default"])
        raise KeyError(f"cannot resolve Ref {name}")

    def _condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, _Tag):
            return self._tag(value.tag, value.value)
        if isinstance(value, dict):
            if len(value) == 1:
                ((k, v),) = value.items()
                if k == "Ref" or k.startswith("Fn::"):
                    return self._tag(k.removeprefix("Fn::"), v)
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not _NO_VALUE]
        return value

    def _tag(self, tag: str, value: Any) -> Any:  # noqa: C901 — one branch per CloudFormation intrinsic
        if tag == "Ref":
            return self._ref(value)
        if tag == "Sub":
            text, extra = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))
            out, i = [], 0
            while i < len(text):
                j = text.find("${", i)
                if j < 0:
                    out.append(text[i:])
                    break
                k = text.index("}", j)
                out.append(text[i:j])
                name = text[j + 2 : k]
                if name in extra:
                    out.append(str(extra[name]))
                elif "." in name:
                    out.append(self.attributes.get(name, name))
                else:
                    out.append(str(self._ref(name)))
                i = k + 1
            return "".join(out)
        if tag == "If":
            cond, yes, no = value
            return self.resolve(yes if self._condition(cond) else no)
        if tag == "Equals":
            a, b = (self.resolve(v) for v in value)
            return a == b
        if tag == "Not":
            return not self.resolve(value[0])
        if tag == "And":
            return all(self.resolve(v) for v in value)
        if tag == "Or":
            return any(self.resolve(v) for v in value)
        if tag == "GetAtt":
            name = value if isinstance(value, str) else ".".join(value)
            return self.attributes.get(name, name)
        if tag == "Join":
            sep, parts = value
            resolved = self.resolve(parts)
            return sep.join(str(p) for p in (resolved if isinstance(resolved, list) else [resolved]))
        if tag == "Select":
            idx, items = value
            return self.resolve(items)[int(idx)]
        if tag == "Condition":
            return self._condition(value)
        raise ValueError(f"unsupported CloudFormation function {tag}")


_TABLE_KEYS = (
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "BillingMode",
)


def _coerce(value: Any, shape: Any) -> Any:
    """CloudFormation passes parameters as strings ("0.2", "300"); convert them as the API shape says."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _coerce(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_coerce(v, shape.member) for v in value]
    if kind in ("integer", "long") and isinstance(value, str):
        return int(value)
    if kind in ("double", "float") and isinstance(value, str):
        return float(value)
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    return value


def _plain(value: Any) -> Any:
    """cfn-lint's nodes (str_node, dict_node, list_node) as plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def expand(template_path: str | Path, parameters: dict[str, str]) -> dict[str, Any]:
    """The template with its ``Fn::ForEach`` loops expanded for ``parameters`` (the alarms of every model).

    The expansion is cfn-lint's implementation of the ``AWS::LanguageExtensions`` transform (the one
    ``sam validate --lint`` and ``cfn-lint`` run), not a second one of ours: the given parameters become
    the parameters' defaults, which is what it expands with. SAM's Globals are merged into the functions.
    """
    from cfnlint.decode import decode
    from cfnlint.template import Template

    raw, errors = decode(str(template_path))
    if errors or raw is None:
        raise ValueError(f"cannot read {template_path}: {errors}")
    declared = raw.get("Parameters", {})
    for name, value in parameters.items():
        if name in declared:
            declared[name]["Default"] = value
    cfn = Template(str(template_path), raw, ["eu-west-1"])
    matches = cfn.transform()
    if matches:
        raise ValueError(f"cannot expand {template_path}: " + "; ".join(m.message for m in matches))
    out: dict[str, Any] = _plain(cfn.template)
    return out


def create_stack(
    template_path: str | Path,
    parameters: dict[str, str],
    session: Any,
) -> dict[str, str]:
    """Create the template's tables, queues and alarms with ``session`` (a boto3 Session on moto).

    The template is expanded first (:func:`expand`), so every model's alarms are created.
    Returns logical id -> physical name (table name, queue URL, alarm name).
    """
    template = expand(template_path, parameters)
    res = Resolver(template, parameters)
    resources: dict[str, Any] = template.get("Resources", {})
    created: dict[str, str] = {}
    # queues first: redrive policies and alarms refer to them
    order = sorted(resources.items(), key=lambda kv: 0 if kv[1]["Type"] == "AWS::SQS::Queue" else 1)
    sqs = session.client("sqs")
    for logical, spec in order:
        if spec.get("Condition") and not res._condition(spec["Condition"]):
            continue
        rtype = spec["Type"]
        props = spec.get("Properties", {})
        if rtype == "AWS::DynamoDB::Table":
            p = res.resolve(props)
            ddb = session.client("dynamodb")
            ddb.create_table(**{k: p[k] for k in _TABLE_KEYS if k in p})
            if p.get("TimeToLiveSpecification"):
                ddb.update_time_to_live(
                    TableName=p["TableName"], TimeToLiveSpecification=p["TimeToLiveSpecification"]
                )
            created[logical] = p["TableName"]
            res.physical[logical] = p["TableName"]
            res.attributes[f"{logical}.Arn"] = (
                f"arn:aws:dynamodb:eu-west-1:123456789012:table/{p['TableName']}"
            )
        elif rtype == "AWS::SQS::Queue":
            p = res.resolve(props)
            attrs: dict[str, str] = {}
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "ReceiveMessageWaitTimeSeconds",
                "FifoQueue",
                "ContentBasedDeduplication",
            ):
                if key in p:
                    attrs[key] = str(p[key]).lower() if isinstance(p[key], bool) else str(p[key])
            if "RedrivePolicy" in p:
                attrs["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
            url = sqs.create_queue(QueueName=p["QueueName"], Attributes=attrs)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            created[logical] = url
            res.physical[logical] = url
            res.attributes[f"{logical}.Arn"] = arn
            res.attributes[f"{logical}.QueueName"] = p["QueueName"]
        elif rtype == "AWS::CloudWatch::Alarm":
            p = res.resolve(props)
            p.pop("Tags", None)
            cw = session.client("cloudwatch")
            shape = cw.meta.service_model.operation_model("PutMetricAlarm").input_shape
            cw.put_metric_alarm(**_coerce(p, shape))
            created[logical] = p["AlarmName"]
            res.physical[logical] = p["AlarmName"]
    return created


def main(argv: list[str] | None = None) -> int:
    """``expand --config FILE [--out PATH]``: the template expanded with the config's alarm parameters."""
    import argparse

    from mlops_glue.cli.alarms import template_parameters
    from mlops_glue.config import load_config

    parser = argparse.ArgumentParser(prog="python -m glue_local.devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("expand")
    ex.add_argument("--config", required=True)
    ex.add_argument("--template", default=str(Path(__file__).resolve().parents[1] / "template.yaml"))
    ex.add_argument("--out", type=Path, default=Path(".aws-sam/expanded/template.json"))
    args = parser.parse_args(argv)
    params = {"Stage": "dev", **template_parameters(load_config(args.config))}
    doc = expand(args.template, params)
    doc["Transform"] = [t for t in doc.get("Transform", []) if t != "AWS::LanguageExtensions"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    print(
        f"{args.out}: {sum(1 for r in doc['Resources'].values() if r['Type'] == 'AWS::CloudWatch::Alarm')} alarms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
