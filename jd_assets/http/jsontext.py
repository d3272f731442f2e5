"""Gateway JSON as JD sent it: every number keeps its text, non-JSON literals and runaway nesting are named.

Python's ``json`` turns ``899.00`` into the float ``899.0``, ``1e400`` into ``inf``, keeps only ~17
significant digits, accepts ``NaN`` / ``Infinity`` (not JSON), and meets 200,000 levels of nesting with a
``RecursionError``. Here, the one parser of every gateway answer (``Reply.json``) and the one serialiser of
every raw record (``jd_assets.raw.landing.record_json``) agree on:

- a non-integer number is a :class:`JsonNumber` holding its exact text (``899.00``, ``1e400``,
  ``0.1234567890123456789012``); it compares and hashes like the float Python's ``json`` would have made,
  and :func:`dumps` writes its text back unchanged. Integers stay Python ints (exact at any size);
  ``-0`` and integers too long for ``int()`` are JsonNumbers too, so their text also survives;
- ``NaN``, ``Infinity``, ``-Infinity`` parse as :class:`NotJsonLiteral` so the rest of the answer is
  usable; :func:`dumps` reports them (``problem``), and the landing rejects that record, naming the literal;
- an answer nested deeper than Python can parse raises :class:`TooDeepError` with the depth: a
  malformation that retrying cannot fix.

:func:`array_texts` cuts the elements of one array of an answer (a page's records) out of the answer's
own text, so they land exactly as sent without being written again (``dumps`` costs ~25 µs a record):
msgspec finds them and their bytes are kept as they are (:class:`Texts`, never a Python text per record);
an answer msgspec refuses goes through the Python scanner, which names a NaN or Infinity literal and
treats every other case as before.
"""

from __future__ import annotations

import codecs
import functools
import json
import json.decoder
import json.scanner
import re
import secrets
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import msgspec
import pyarrow as pa

__all__ = [
    "JsonNumber",
    "NotJsonLiteral",
    "Texts",
    "TooDeepError",
    "array_texts",
    "dumps",
    "loads",
    "nesting_depth",
]


class JsonNumber:
    """A JSON number as the text it was received in; equal (and hashed) as Python's float of it."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __float__(self) -> float:
        return float(self.text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JsonNumber):
            return float(self) == float(other)
        if isinstance(other, int | float) and not isinstance(other, bool):
            return float(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(float(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __str__(self) -> str:
        return self.text


class NotJsonLiteral(JsonNumber):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's ``json`` accepts them, JSON (RFC 8259) does not."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotJsonLiteral) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class TooDeepError(ValueError):
    """The text nests arrays/objects deeper than the parser's recursion allows."""

    def __init__(self, depth: int):
        super().__init__(f"JSON nested {depth:,} levels deep")
        self.depth = depth


def _int(text: str) -> int | JsonNumber:
    if text.startswith("-0"):  # "-0" is a JSON integer whose sign int() would drop
        return JsonNumber(text)
    try:
        return int(text)
    except ValueError:  # more digits than int() converts (sys.int_info.default_max_str_digits)
        return JsonNumber(text)


def loads(content: bytes | str) -> Any:
    """Parse JSON keeping every number's text. Raises ValueError (not JSON) or TooDeepError."""
    try:
        return json.loads(content, parse_float=JsonNumber, parse_int=_int, parse_constant=NotJsonLiteral)
    except RecursionError:
        raise TooDeepError(nesting_depth(content)) from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(content: bytes | str) -> int:
    """The deepest array/object nesting of a JSON text (strings skipped)."""
    data = content.encode("utf-8", "replace") if isinstance(content, str) else content
    brackets = _STRING.sub(b"", data).translate(None, bytes(b for b in range(256) if b not in _DEPTH_STEP))
    return max(accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


_NONCE = secrets.token_hex(8)
_PLACEHOLDER = re.compile(r'"\\u0000' + _NONCE + r':([^"]*)"')


def dumps(value: Any) -> tuple[str, str | None]:
    """Compact JSON text of ``value`` (raw UTF-8), each JsonNumber written as received, and the problem
    that makes it not JSON (a NaN or Infinity literal), or None.

    A JsonNumber is first written as a string holding a per-process nonce (a text no real value can
    hold: it starts with U+0000), then that quoted placeholder is replaced by the number's text, so the
    C encoder does all the rest.
    """
    literals: list[str] = []

    def default(obj: object) -> str:
        if isinstance(obj, JsonNumber):
            if isinstance(obj, NotJsonLiteral):
                literals.append(obj.text)
            return f"\0{_NONCE}:{obj.text}"
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default, allow_nan=False)
    except ValueError:  # a Python float nan/inf (a record built in Python, not parsed)
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
        literals.append("NaN or Infinity")
    if _NONCE in text:
        text = _PLACEHOLDER.sub(lambda m: m.group(1), text)
    problem = None
    if literals:
        problem = f"not JSON: the literal {literals[0]} (JSON has no NaN or Infinity)"
    return text, problem


_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: A \uD800-\uDFFF escape: DuckDB's JSON type refuses a lone one, so such a record is written again.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


@dataclass(frozen=True)
class Texts:
    """Elements of an answer's array as their exact UTF-8 text: one after the other in ``data``, each
    ``lengths`` bytes long, with what makes each not JSON (``problems``; None: nothing, for every one).

    Bytes, not ``str``: the landing hands ``data`` to Arrow as it is, where decoding each text to Python
    and Arrow encoding it back cost about half of the cutting (bench/RESULTS.landing.md)."""

    data: bytes
    lengths: list[int]
    problems: list[str | None] | None = None

    @classmethod
    def of(cls, texts: Sequence[tuple[str, str | None]]) -> Texts:
        """From (text, problem) pairs."""
        encoded = [text.encode("utf-8") for text, _ in texts]
        problems = [problem for _, problem in texts]
        return cls(b"".join(encoded), list(map(len, encoded)), problems if any(problems) else None)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        """The (text, problem) pairs, decoded: for reading them in Python, not for landing."""
        ends = list(accumulate(self.lengths))
        problems = self.problems or [None] * len(ends)
        for start, end, problem in zip([0, *ends], ends, problems, strict=False):
            yield self.data[start:end].decode("utf-8"), problem


def array_texts(content: bytes, path: tuple[str, ...]) -> Texts | None:
    """Each element of the array at ``path`` (object keys from the top) as its exact text in ``content``,
    with the problem that makes it not JSON (a NaN or Infinity literal, as :func:`dumps` names it).

    None when the texts cannot be cut out as received: the answer is not UTF-8 or not JSON, nothing is
    an array at ``path``, or an element holds a surrogate escape (DuckDB refuses a lone one); the caller
    then writes the parsed records with :func:`dumps`. The last of duplicate keys counts, as in
    :func:`loads`.
    """
    body = memoryview(content)[len(codecs.BOM_UTF8) :] if content.startswith(codecs.BOM_UTF8) else content
    if _SURROGATE_ESCAPE_BYTES.search(body):  # rare: the scanner tells an element's from the envelope's
        return _scanned_texts(content, path)
    try:
        found = _decoder(path).decode(body)
    except (msgspec.DecodeError, RecursionError):
        # Not strict JSON (a NaN literal, ...), too deep, or a type msgspec stopped at before a later
        # duplicate key: the scanner gives the same answer as ever.
        return _scanned_texts(content, path)
    for _ in path:
        found = found.value
    # msgspec does not check the UTF-8 of what it skips (the elements, and the envelope around them):
    # the whole answer at once, by Arrow's validation (about half the time of Python's decoder).
    if not _utf8(body):
        return None
    return Texts(b"".join(found), list(map(len, found)))


def _utf8(body: bytes | memoryview) -> bool:
    size = len(body)
    if size >= 2**31:  # beyond one Arrow string (an answer is never near this): Python's decoder
        try:
            codecs.utf_8_decode(body)
        except UnicodeDecodeError:
            return False
        return True
    offsets = pa.py_buffer(struct.pack("<ii", 0, size))
    try:
        pa.StringArray.from_buffers(1, offsets, pa.py_buffer(body)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89abcdefABCDEF]")


@functools.cache
def _decoder(path: tuple[str, ...]) -> msgspec.json.Decoder:
    """A decoder of the objects along ``path`` down to the array, its elements kept as raw bytes."""
    kind: Any = list[msgspec.Raw]
    for key in reversed(path):
        kind = msgspec.defstruct("Level", [("value", kind)], rename={"value": key})
    return msgspec.json.Decoder(kind)


def _scanned_texts(content: bytes, path: tuple[str, ...]) -> Texts | None:
    """:func:`array_texts` by Python's JSON scanner: slower, but it accepts (and names) NaN literals."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    literals: list[str] = []

    def constant(name: str) -> float:
        literals.append(name)
        return float(name)

    scan = json.scanner.make_scanner(json.JSONDecoder(parse_constant=constant))
    start = _WHITESPACE.match(text, 1 if text.startswith("\ufeff") else 0).end()
    try:
        texts = _walk(text, start, path, scan, literals)[0]
    except (ValueError, StopIteration, IndexError, RecursionError):
        return None
    return None if texts is None else Texts.of(texts)


def _walk(text: str, i: int, path: tuple[str, ...], scan, literals: list[str]):
    """(what ``path`` leads to from the value at ``i``, the index after that value)."""
    if not path and text[i] == "[":
        return _elements(text, i, scan, literals)
    if not path or text[i] != "{":
        return None, scan(text, i)[1]
    found = None
    i = _WHITESPACE.match(text, i + 1).end()
    if text[i] == "}":
        return None, i + 1
    while True:
        key, i = json.decoder.scanstring(text, i + 1)
        i = _WHITESPACE.match(text, i).end() + 1  # past the ':'
        i = _WHITESPACE.match(text, i).end()
        if key == path[0]:
            found, i = _walk(text, i, path[1:], scan, literals)
        else:
            i = scan(text, i)[1]
        i = _WHITESPACE.match(text, i).end()
        if text[i] == "}":
            return found, i + 1
        i = _WHITESPACE.match(text, i + 1).end()  # past the ','


def _elements(text: str, i: int, scan, literals: list[str]):
    out: list[tuple[str, str | None]] | None = []
    i = _WHITESPACE.match(text, i + 1).end()
    if text[i] == "]":
        return out, i + 1
    while True:
        literals.clear()
        end = scan(text, i)[1]
        element = text[i:end]
        problem = f"not JSON: the literal {literals[0]} (JSON has no NaN or Infinity)" if literals else None
        if out is not None:
            out.append((element, problem))
            if _SURROGATE_ESCAPE.search(element):
                out = None
        i = _WHITESPACE.match(text, end).end()
        if text[i] == "]":
            return out, i + 1
        i = _WHITESPACE.match(text, i + 1).end()
