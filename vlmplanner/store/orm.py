"""The catalog's tables (SQLAlchemy 2.0, typed). Rows never leave the store as these objects.

Constraint names follow one convention so alembic diffs are the same on SQLite and PostgreSQL.
Every table with user-writable rows has a natural key (a unique constraint) that writes upsert on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ORIGINS",
    "Base",
    "BenchmarkRow",
    "CompressorRow",
    "CostMeasurementRow",
    "HardwareRow",
    "MetaRow",
    "ModelRow",
    "ResultRow",
    "ScalingFitRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


#: Who wrote a row: "shipped" (seeded from catalog/, refreshed by later seeds) or "user" (registered,
#: added or imported; seeding never overwrites it, and reports a shipped row that differs).
ORIGINS = ("shipped", "user")


def _origin() -> Any:
    return mapped_column(String(8), default="user", server_default="user")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012 - read by SQLAlchemy


class MetaRow(Base):
    """Key/value facts about the catalog itself (which release seeded it, and when)."""

    __tablename__ = "catalog_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = _origin()
    checkpoint: Mapped[str] = mapped_column(String(200), unique=True)
    model_type: Mapped[str] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    llm_name: Mapped[str] = mapped_column(String(200))
    llm_params_b: Mapped[float] = mapped_column(Float)
    llm_num_layers: Mapped[int] = mapped_column(Integer)
    llm_hidden_size: Mapped[int] = mapped_column(Integer)
    llm_num_heads: Mapped[int] = mapped_column(Integer)
    llm_num_kv_heads: Mapped[int] = mapped_column(Integer)
    llm_intermediate_size: Mapped[int] = mapped_column(Integer)
    llm_vocab_size: Mapped[int] = mapped_column(Integer)
    llm_tie_word_embeddings: Mapped[bool] = mapped_column(Boolean)
    vision_name: Mapped[str] = mapped_column(String(200))
    vision_image_size: Mapped[int] = mapped_column(Integer)
    vision_patch_size: Mapped[int] = mapped_column(Integer)
    vision_num_layers: Mapped[int] = mapped_column(Integer)
    vision_hidden_size: Mapped[int] = mapped_column(Integer)
    vision_num_heads: Mapped[int] = mapped_column(Integer)
    vision_intermediate_size: Mapped[int] = mapped_column(Integer)
    vision_spatial_merge_size: Mapped[int] = mapped_column(Integer)
    # numbers only some families have (NULL for the rest): see ModelSpec
    llm_head_dim: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_sliding_window: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_sliding_layers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_attention_gate: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    llm_linear_layers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_linear_key_heads: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_linear_value_heads: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_linear_key_head_dim: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_linear_value_head_dim: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_linear_conv_kernel: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_moe_num_experts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_moe_experts_per_token: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_moe_expert_intermediate_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_moe_layers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    llm_moe_shared_expert_intermediate_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vision_deepstack_layers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vision_position_embeddings: Mapped[int | None] = mapped_column(Integer, nullable=True)
    projector: Mapped[str] = mapped_column(String(64))
    native_visual_tokens: Mapped[int] = mapped_column(Integer)
    public_checkpoint: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CompressorRow(Base):
    __tablename__ = "compressors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = _origin()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    training: Mapped[str] = mapped_column(String(16))
    paper: Mapped[str] = mapped_column(Text, default="")
    arxiv: Mapped[str] = mapped_column(String(32), default="")
    prune_layer: Mapped[int | None] = mapped_column(Integer, nullable=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class HardwareRow(Base):
    __tablename__ = "hardware"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = _origin()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    peak_bf16_tflops: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_fp16_tflops: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_fp32_tflops: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_gb: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_bandwidth_gbs: Mapped[float | None] = mapped_column(Float, nullable=True)
    price_usd_per_hour: Mapped[float | None] = mapped_column(Float, nullable=True)
    spec_source: Mapped[str] = mapped_column(Text, default="")
    price_source: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class BenchmarkRow(Base):
    __tablename__ = "benchmarks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = _origin()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    metric: Mapped[str] = mapped_column(String(200))
    min_score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    higher_is_better: Mapped[bool] = mapped_column(Boolean)
    task_family: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text, default="")


class ResultRow(Base):
    """A quality result. The natural key uses the labels the source printed, which are never null."""

    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint(
            "model_label",
            "compressor_label",
            "visual_tokens_label",
            "benchmark_id",
            "source",
            name="uq_results_natural_key",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = _origin()
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    model_label: Mapped[str] = mapped_column(String(200))
    compressor_id: Mapped[int] = mapped_column(
        ForeignKey("compressors.id", ondelete="RESTRICT"), index=True
    )
    compressor_label: Mapped[str] = mapped_column(String(200))
    visual_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    visual_tokens_label: Mapped[str] = mapped_column(String(100))
    benchmark_id: Mapped[int] = mapped_column(
        ForeignKey("benchmarks.id", ondelete="RESTRICT"), index=True
    )
    score: Mapped[float] = mapped_column(Float)
    provenance: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(500))
    secondary: Mapped[bool] = mapped_column(Boolean, default=False)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    device: Mapped[str] = mapped_column(String(200), default="")
    dtype: Mapped[str] = mapped_column(String(32), default="")
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class CostMeasurementRow(Base):
    """A cost of one candidate under one workload on one device, by one counting method."""

    __tablename__ = "cost_measurements"
    __table_args__ = (
        UniqueConstraint(
            "candidate_key",
            "method",
            "device",
            "dtype",
            "batch_size",
            "text_tokens",
            "output_tokens",
            name="uq_cost_measurements_natural_key",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_key: Mapped[str] = mapped_column(String(300), index=True)
    method: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(200))
    dtype: Mapped[str] = mapped_column(String(32))
    batch_size: Mapped[int] = mapped_column(Integer)
    text_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    flops: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prefill_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    prefill_ms_spread: Mapped[float | None] = mapped_column(Float, nullable=True)
    decode_ms_per_token: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ScalingFitRow(Base):
    """A fitted scaling law for one (law family, compressor, benchmark), and a digest of its points.

    When the results a fit rests on change, their digest changes and the planner refits.
    """

    __tablename__ = "scaling_fits"
    __table_args__ = (
        UniqueConstraint("family", "compressor_id", "benchmark_id", name="uq_scaling_fits_natural_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(200))
    compressor_id: Mapped[int] = mapped_column(ForeignKey("compressors.id", ondelete="CASCADE"), index=True)
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmarks.id", ondelete="CASCADE"), index=True)
    data_digest: Mapped[str] = mapped_column(String(64))
    alpha: Mapped[float] = mapped_column(Float)
    beta: Mapped[float] = mapped_column(Float)
    loo_mae_points: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_points: Mapped[int] = mapped_column(Integer)
    fit: Mapped[dict[str, Any]] = mapped_column(JSON)
    vlmplanner_version: Mapped[str] = mapped_column(String(32))
    fitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
