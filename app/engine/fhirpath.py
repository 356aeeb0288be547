"""FHIRPath over facts: every expression compiled once, when its pack loads.

fhirpathpy is the reference evaluator: :func:`compile_expression` compiles an expression outside the fast
subset with ``fhirpathpy.compile`` at once (which also checks its syntax), one inside it on first need.
Guideline conditions mostly use a small subset of FHIRPath (paths under ``%facts``, literals, comparisons,
``and``/``or``/``not()``, ``exists()``, ``empty()``, ``count()``, ``first()``, ``|``, ``in``); for that subset a
direct evaluator written here gives the same answer about twenty times faster
(:mod:`app.engine.fhirpath_subset`), which is what lets one plan take well under a millisecond.
``tests/test_engine_fhirpath.py`` checks the two evaluators agree on every expression of every pack over
every test case. Anything outside the subset is evaluated by fhirpathpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from app.engine.fhirpath_subset import PATH_CACHE, Unsupported, parse_subset

Evaluator = Callable[[Mapping[str, Any]], list[Any]]
__all__ = ["PATH_CACHE", "CompiledExpression", "Unsupported", "compile_expression", "is_true"]


@dataclass(frozen=True)
class CompiledExpression:
    """One FHIRPath expression, compiled by the fast path when it fits the subset and by fhirpathpy (at once when
    it does not, on first need when it does: parsing with fhirpathpy is most of a pack's load time)."""

    text: str
    compiled: Callable[..., list[Any]] | None
    fast: Evaluator | None

    @property
    def reference(self) -> Callable[..., list[Any]]:
        """The fhirpathpy evaluator, compiled the first time it is needed."""
        if self.compiled is None:
            object.__setattr__(self, "compiled", _reference(self.text))
        assert self.compiled is not None
        return self.compiled

    def __call__(self, variables: Mapping[str, Any]) -> list[Any]:
        """Evaluate over the environment variables (``facts``, ``asOf``); results are cached per plan."""
        cache = variables.get(PATH_CACHE)
        if cache is not None:
            found = cache.get(self.text)
            if found is None:
                found = cache[self.text] = self._evaluate(variables)
            return found
        return self._evaluate(variables)

    def _evaluate(self, variables: Mapping[str, Any]) -> list[Any]:
        if self.fast is not None:
            try:
                return self.fast(variables)
            except Unsupported:
                pass  # a shape the subset does not cover (e.g. a collection compared): ask fhirpathpy
        return self.evaluate_reference(variables)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its text (a compiled pack kept on disk, :func:`app.engine.packs.load_pack_set`) and compiled
        again when read, the way it was: with the fast path when it had one."""
        return _restored, (self.text, self.fast is not None)

    def evaluate_reference(self, variables: Mapping[str, Any]) -> list[Any]:
        """Evaluate with fhirpathpy only."""
        plain = {name: value for name, value in variables.items() if name != PATH_CACHE}
        return [_plain(value) for value in self.reference({}, plain)]


def compile_expression(text: str, *, use_fast_path: bool = True) -> CompiledExpression:
    """Compile a FHIRPath expression; raises ValueError with the reason when it does not parse.

    An expression the subset parses is valid FHIRPath (the subset's grammar is a part of FHIRPath's), so its
    fhirpathpy evaluator is compiled only when first needed; any other expression is compiled (and its syntax
    checked) by fhirpathpy now. A pack repeats its expressions (a pack of 927 has 285 distinct ones): each text
    is compiled once per process and the immutable result shared."""
    return _compiled(text, use_fast_path)


@cache
def _compiled(text: str, use_fast_path: bool) -> CompiledExpression:
    fast = None
    if use_fast_path:
        try:
            fast = parse_subset(text)
        except Unsupported:
            fast = None
    return CompiledExpression(text=text, compiled=None if fast is not None else _reference(text), fast=fast)


def _restored(text: str, fast: bool) -> CompiledExpression:
    return _compiled(text, fast)


def _reference(text: str) -> Callable[..., list[Any]]:
    import fhirpathpy  # only when an expression needs it: most packs' expressions are all in the fast subset

    try:
        reference = fhirpathpy.compile(text)
        # fhirpathpy builds the tree lazily: one evaluation over empty facts surfaces syntax errors now.
        reference({}, {"facts": {}, "asOf": "2000-01-01"})
    except Exception as exc:  # fhirpathpy raises bare Exceptions of several kinds on bad syntax
        raise ValueError(f"FHIRPath {text!r} does not parse: {exc}") from exc
    return reference


def is_true(result: list[Any]) -> bool:
    """FHIRPath's test of a condition: exactly one ``true``."""
    return len(result) == 1 and result[0] is True


def _plain(value: Any) -> Any:
    """fhirpathpy returns Decimals for literals and computed numbers; the engine works with floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    return value
