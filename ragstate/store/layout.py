"""How a new collection keeps its vectors: quantized copies in RAM, originals at hand.

A collection takes its layout when it is created (``RAGSTATE_STORE_QUANTIZATION``,
``RAGSTATE_STORE_ON_DISK``, ``RAGSTATE_STORE_ORIGINALS``); an existing one keeps the layout it
was made with, and ``ragstate reindex`` rebuilds a collection into a new one with the current
settings.

The default (``int8``, on disk, originals ``warm16``): a dense search walks the HNSW graph on
the int8 copy of each vector (a quarter of float32, in RAM), takes ``oversampling`` x limit
candidates and rescores them with the original vectors, which keeps recall@10 at the level of
unquantized search. The originals are kept as float16 (half of float32) and, with the
payloads every hit reads its doc_id from, mapped and read ahead when the collection opens; the
sparse (BM25) index is in files the engine maps on use. ``disk`` leaves the originals and
payloads to be read on first use: the least memory, but where the OS drops idle file pages
(this project's test machines do after 60 s) a fresh search after an idle spell reads its
candidates from disk again, 34 ms instead of 2.8 ms at 1M chunks (docs/performance.md, "A
million chunks"). ``none`` with ``on_disk=False`` is the layout collections had before
(everything in RAM).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragstate.settings import Settings
from ragstate.settings.choices import StoreOriginals, StoreQuantization

#: int8 quantization clips each dimension to this quantile of its values before scaling.
SCALAR_QUANTILE = 0.99


@dataclass(frozen=True)
class StoreLayout:
    """A collection's storage configuration (applied at creation) and its search parameters."""

    quantization: StoreQuantization = StoreQuantization.int8
    on_disk: bool = True
    #: Candidates rescored with the original vectors, as a multiple of the limit (quantized only);
    #: 0 ranks by the quantized vectors alone and never reads the originals.
    oversampling: float = 1.0
    #: With ``on_disk``: whether the originals are read on first use or kept mapped and read
    #: ahead (as float32 or float16); without it they are in RAM like everything else.
    originals: StoreOriginals = StoreOriginals.warm16

    def __post_init__(self) -> None:
        if not self.on_disk:  # everything in RAM: nothing to read ahead, one way to say it
            object.__setattr__(self, "originals", StoreOriginals.disk)

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreLayout:
        return cls(
            quantization=settings.store_quantization,
            on_disk=settings.store_on_disk,
            oversampling=settings.store_oversampling,
            originals=settings.store_originals,
        )

    @classmethod
    def parse(cls, spec: str) -> StoreLayout:
        """``int8/disk``, ``none/ram``, ``binary/disk/3``: quantization, where the originals
        live, and optionally the oversampling (bench/store_latency.py's ``--layouts``)."""
        parts = spec.strip().lower().split("/")
        if len(parts) not in (2, 3) or parts[1] not in _PLACES:
            raise ValueError(
                f"layout {spec!r}: expected QUANTIZATION/{'|'.join(_PLACES)}[/OVERSAMPLING], e.g. int8/disk"
            )
        over = float(parts[2]) if len(parts) == 3 else cls.oversampling
        on_disk = parts[1] != "ram"
        originals = StoreOriginals(parts[1]) if on_disk else StoreOriginals.disk
        return cls(StoreQuantization(parts[0]), on_disk, over, originals)

    @property
    def place(self) -> str:
        """Where the originals live, as ``parse`` names it: disk, warm, warm16 or ram."""
        return self.originals.value if self.on_disk else "ram"

    @property
    def warm_originals(self) -> bool:
        """On disk, the originals mapped and read ahead rather than read on first use."""
        return self.on_disk and self.originals is not StoreOriginals.disk

    @property
    def half_originals(self) -> bool:
        return self.on_disk and self.originals is StoreOriginals.warm16

    @property
    def label(self) -> str:
        return f"{self.quantization.value}/{self.place}" + (f"/{self.oversampling:g}" if self.quantized else "")

    @property
    def quantized(self) -> bool:
        return self.quantization is not StoreQuantization.none

    @property
    def rescored(self) -> bool:
        """Whether a dense search reads the original vectors to rescore its candidates."""
        return self.quantized and self.oversampling > 0

    def quantization_search(self) -> dict | None:
        """The ``QuantizationSearchParams`` of a dense search, the same for both client libraries:
        rescoring with its oversampling, or none; None without quantization (nothing to say)."""
        if not self.quantized:
            return None
        return {"rescore": True, "oversampling": self.oversampling} if self.rescored else {"rescore": False}


#: parse()'s names of where the originals live.
_PLACES = ("ram", *(o.value for o in StoreOriginals))

#: What every collection had before layouts existed: float32 vectors and the sparse index in RAM.
LEGACY = StoreLayout(StoreQuantization.none, on_disk=False)
