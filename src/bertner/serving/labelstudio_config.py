"""A Label Studio project's label config (its XML) read for NER pre-annotation, and the model's types mapped onto it.

A project labels entities in a text with a `<Labels>` control pointing at a `<Text>` object:

    <View>
      <Labels name="label" toName="text"><Label value="Person"/><Label value="ORG"/></Labels>
      <Text name="text" value="$text"/>
    </View>

A prediction's result items name the control (`from_name`: "label") and the object (`to_name`: "text"), the task
data field holding the text is the object's `value` without its `$` ("text"), and each item's `labels` hold one of
the control's `<Label value=...>`. Tag names are matched case-insensitively, as Label Studio's own parser does.
Other controls (Choices, HyperTextLabels, ...) are not ours to fill and are ignored.

The model's entity types become the project's labels through a type map (`serve --map PER=Person`): a type maps to
itself unless the map renames it, a type mapped to `O` is left out on purpose, and a type whose name (mapped or
not) is no label of the control is left out and counted. Pure stdlib: no FastAPI, no torch.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from bertner.errors import UserError
from bertner.evaluation.predictions import TypeMap
from bertner.labels import OUTSIDE


@dataclass(frozen=True)
class LabelTarget:
    """Where NER predictions go in a project: the `<Labels>` control `from_name`, the `<Text>` object `to_name`,
    the task data field `data_key` holding the text, and the control's label values in config order."""

    from_name: str
    to_name: str
    data_key: str
    labels: tuple[str, ...]


def _lower(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()  # without a namespace, if a config declares one


@lru_cache(maxsize=32)
def label_targets(config: str) -> tuple[LabelTarget, ...]:
    """Every `<Labels>` control of `config` that points at a `<Text>` object, in document order.

    Raises:
        ValueError: for a config that is not XML, or has no `<Labels>` control on a `<Text>` object, saying why.
    """
    try:
        root = ElementTree.fromstring(config)
    except ElementTree.ParseError as error:
        raise ValueError(f"the label config is not valid XML: {error}") from error
    texts: dict[str, str] = {}
    other_objects: dict[str, str] = {}
    for element in root.iter():
        name = element.get("name")
        if name is None:
            continue
        value = element.get("value", "")
        if _lower(element.tag) == "text":
            texts[name] = value
        else:
            other_objects[name] = element.tag
    targets = []
    found_labels = []
    for element in root.iter():
        if _lower(element.tag) != "labels":
            continue
        found_labels.append(element)
        labels = tuple(
            label for child in element if _lower(child.tag) == "label" and (label := child.get("value")) is not None
        )
        for to_name in (part.strip() for part in (element.get("toName") or "").split(",")):
            source = texts.get(to_name, "")
            if source.startswith("$") and len(source) > 1 and labels:
                targets.append(LabelTarget(element.get("name", ""), to_name, source[1:], labels))
    if not targets:
        raise ValueError(_no_target(found_labels, texts, other_objects))
    return tuple(targets)


def _no_target(found: list[ElementTree.Element], texts: dict[str, str], other_objects: dict[str, str]) -> str:
    if not found:
        others = ", ".join(f"<{tag}>" for tag in sorted(set(other_objects.values())) if _lower(tag).endswith("labels"))
        return f"the label config has no <Labels> control{f' (only {others})' if others else ''}: bertner fills " + (
            "<Labels> on a <Text> object (character offsets in plain text)"
        )
    control = found[0]
    to_name = control.get("toName") or ""
    if not any(_lower(child.tag) == "label" and child.get("value") is not None for child in control):
        return f"<Labels name={control.get('name')!r}> has no <Label value=...>"
    if to_name in other_objects:
        return (
            f"<Labels name={control.get('name')!r}> labels <{other_objects[to_name]} name={to_name!r}>; bertner "
            "fills <Labels> on a <Text> object only (character offsets in plain text)"
        )
    if to_name in texts:
        return f"<Text name={to_name!r}> takes its text from {texts[to_name]!r}, not from a task field '$name'"
    return f"<Labels name={control.get('name')!r}> points at toName={to_name!r}, which is no <Text> of the config"


@dataclass(frozen=True)
class LabelMapping:
    """The model's entity types as labels of one control: `labels[type]`, or absent when the type is left out."""

    target: LabelTarget
    labels: dict[str, str]
    left_out: tuple[str, ...]
    """The model's types that have no label in the control (not counting those mapped to O on purpose)."""


def map_types(target: LabelTarget, types: Iterable[str], type_map: TypeMap) -> LabelMapping:
    """How the model's `types` become `target`'s labels under `type_map`."""
    labels, left_out = {}, []
    for entity_type in types:
        name = type_map(entity_type)
        if name in target.labels:
            labels[entity_type] = name
        elif name != OUTSIDE:
            left_out.append(entity_type)
    return LabelMapping(target, labels, tuple(left_out))


def choose_target(config: str, types: Iterable[str], type_map: TypeMap) -> LabelMapping:
    """The mapping onto the first `<Labels>`-on-`<Text>` control of `config` that takes any of the model's types
    (the first control when none does).

    Raises:
        ValueError: as `label_targets`.
    """
    mappings = [map_types(target, types, type_map) for target in label_targets(config)]
    return next((mapping for mapping in mappings if mapping.labels), mappings[0])


def check_type_map(type_map: TypeMap, types: Iterable[str]) -> None:
    """Refuse a map that renames a type the model does not find (a typo would silently map nothing).

    Raises:
        UserError: naming the unknown types and the model's.
    """
    known = set(types)
    unknown = sorted(set(type_map.renames) - known)
    if unknown:
        raise UserError(
            f"--map renames {', '.join(unknown)}, which the model does not find (its types: {', '.join(sorted(known))})"
        )
