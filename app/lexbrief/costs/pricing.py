"""The cost model file: `pricing.toml`, bundled in resources/ and overridable in the data folder.

Validated strictly (unknown keys are typos, prices must be non-negative numbers, every model
needs a source and an `as_of` date), so a hand edit that breaks it is named, not ignored.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lexbrief.errors import UserFacingError
from lexbrief.machine.telemetry.run import PowerModel
from lexbrief.paths import data_dir, resource_dir

FILE_NAME = "pricing.toml"


class PricingError(UserFacingError):
    """The pricing file is malformed."""


@dataclass(frozen=True)
class CloudPrice:
    key: str  # the table key, e.g. "gpt-4o-mini"
    provider: str
    name: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    source: str
    as_of: dt.date
    cloud_tokens_per_local_token: float  # this model's own factor, or the file's default
    note: str = ""


@dataclass(frozen=True)
class Hardware:
    price: float = 0.0  # in the settings' currency
    lifetime_hours: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.price > 0 and self.lifetime_hours > 0

    @property
    def per_hour(self) -> float:
        return self.price / self.lifetime_hours if self.enabled else 0.0


@dataclass(frozen=True)
class Pricing:
    path: Path
    default_cloud_model: str
    cloud_tokens_per_local_token: float
    models: dict[str, CloudPrice]
    power_model: PowerModel = field(default_factory=PowerModel)
    hardware: Hardware = field(default_factory=Hardware)
    exchange_rates: dict[str, float] = field(default_factory=dict)  # USD per unit

    def model(self, key: str | None) -> CloudPrice:
        """The named cloud model, or the default one when `key` is empty."""
        chosen = key or self.default_cloud_model
        if chosen in self.models:
            return self.models[chosen]
        lowered = {k.lower(): k for k in self.models}
        if chosen.lower() in lowered:
            return self.models[lowered[chosen.lower()]]
        raise PricingError(f"there is no cloud model '{chosen}' in {self.path}; choose one of: "
                           f"{', '.join(self.models)}.")

    def usd_per_unit(self, currency: str) -> float | None:
        """US dollars per unit of `currency`, or None when the file does not say."""
        if currency.upper() == "USD":
            return 1.0
        return self.exchange_rates.get(currency.upper())


def pricing_path() -> Path:
    """The user's copy in the data folder when there is one, else the bundled file."""
    user = data_dir() / FILE_NAME
    return user if user.exists() else resource_dir() / FILE_NAME


_TOP_KEYS = {"schema", "default_cloud_model", "tokens", "power_model", "hardware",
             "exchange_rates", "models"}
_MODEL_REQUIRED = {"provider", "name", "input_usd_per_mtok", "output_usd_per_mtok", "source",
                   "as_of"}
_MODEL_OPTIONAL = {"cloud_tokens_per_local_token", "note"}


def load_pricing(path: Path | None = None) -> Pricing:
    path = path or pricing_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PricingError(f"the pricing file {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PricingError(f"the pricing file {path} cannot be read: {exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"the pricing file {path} is not valid TOML: {exc}.") from exc
    return parse_pricing(raw, path)


def parse_pricing(raw: dict[str, Any], path: Path) -> Pricing:
    def fail(problem: str) -> PricingError:
        return PricingError(f"the pricing file {path} is invalid: {problem}.")

    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(_TOP_KEYS))})")
    if raw.get("schema", 1) != 1:
        raise fail(f"schema {raw.get('schema')!r} is not supported (this LexBrief reads 1)")

    def table(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise fail(f"'{name}' must be a table")
        return value

    def number(where: str, value: Any, *, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise fail(f"{where} must be a number, not {value!r}")
        if value < 0 or (positive and value == 0):
            raise fail(f"{where} must be {'above' if positive else 'at least'} 0, not {value!r}")
        return float(value)

    def known_keys(name: str, values: dict[str, Any], known: set[str]) -> None:
        extra = sorted(set(values) - known)
        if extra:
            raise fail(f"'{name}' has an unknown key '{extra[0]}' (known: "
                       f"{', '.join(sorted(known))})")

    tokens = table("tokens", raw.get("tokens", {}))
    known_keys("tokens", tokens, {"cloud_tokens_per_local_token"})
    factor = number("tokens.cloud_tokens_per_local_token",
                    tokens.get("cloud_tokens_per_local_token", 1.0), positive=True)

    power = table("power_model", raw.get("power_model", {}))
    known_keys("power_model", power, {"watts_per_core", "cpu_full_load_watts"})
    power_model = PowerModel(
        watts_per_core=number("power_model.watts_per_core", power.get("watts_per_core", 5.0),
                              positive=True),
        cpu_full_load_watts=number("power_model.cpu_full_load_watts",
                                   power.get("cpu_full_load_watts", 0.0)))

    hw = table("hardware", raw.get("hardware", {}))
    known_keys("hardware", hw, {"price", "lifetime_hours"})
    hardware = Hardware(price=number("hardware.price", hw.get("price", 0.0)),
                        lifetime_hours=number("hardware.lifetime_hours",
                                              hw.get("lifetime_hours", 0.0)))
    if hardware.price > 0 and hardware.lifetime_hours == 0:
        raise fail("hardware.price is set but hardware.lifetime_hours is 0")

    rates_raw = table("exchange_rates", raw.get("exchange_rates", {}))
    rates = {str(code).upper(): number(f"exchange_rates.{code}", value, positive=True)
             for code, value in rates_raw.items()}

    models_raw = table("models", raw.get("models", {}))
    if not models_raw:
        raise fail("it lists no cloud models ([models.NAME] tables)")
    models: dict[str, CloudPrice] = {}
    for key, value in models_raw.items():
        entry = table(f"models.{key}", value)
        known_keys(f"models.{key}", entry, _MODEL_REQUIRED | _MODEL_OPTIONAL)  # typos first
        missing = sorted(_MODEL_REQUIRED - set(entry))
        if missing:
            raise fail(f"model '{key}' lacks '{missing[0]}'")
        for text_key in ("provider", "name", "source"):
            if not isinstance(entry[text_key], str) or not entry[text_key].strip():
                raise fail(f"model '{key}': '{text_key}' must be a non-empty string")
        models[key] = CloudPrice(
            key=key, provider=entry["provider"], name=entry["name"],
            input_usd_per_mtok=number(f"model '{key}': input_usd_per_mtok",
                                      entry["input_usd_per_mtok"]),
            output_usd_per_mtok=number(f"model '{key}': output_usd_per_mtok",
                                       entry["output_usd_per_mtok"]),
            source=entry["source"], as_of=_date(entry["as_of"], key, fail),
            cloud_tokens_per_local_token=number(
                f"model '{key}': cloud_tokens_per_local_token",
                entry.get("cloud_tokens_per_local_token", factor), positive=True),
            note=str(entry.get("note", "")),
        )

    default = raw.get("default_cloud_model", next(iter(models)))
    if not isinstance(default, str) or default not in models:
        raise fail(f"default_cloud_model {default!r} is not one of the listed models")
    return Pricing(path=path, default_cloud_model=default, cloud_tokens_per_local_token=factor,
                   models=models, power_model=power_model, hardware=hardware,
                   exchange_rates=rates)


def _date(value: Any, key: str, fail: Any) -> dt.date:
    date: dt.date | None = None
    if isinstance(value, dt.datetime):
        date = value.date()
    elif isinstance(value, dt.date):
        date = value
    elif isinstance(value, str):
        try:
            date = dt.date.fromisoformat(value.strip())
        except ValueError:
            date = None
    if date is None:
        raise fail(f"model '{key}': as_of must be a date like 2026-03-21, not {value!r}")
    if date > dt.date.today() + dt.timedelta(days=1):
        raise fail(f"model '{key}': as_of {date.isoformat()} is in the future")
    return date
