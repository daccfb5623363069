"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("client_id", name=op.f("uq_apps_client_id")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "consumers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("group_name", sa.String(length=64), nullable=True),
        sa.Column("name_set_by_user", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("group_set_by_user", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_consumers_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumers")),
        sa.UniqueConstraint("app_id", "identifier", name=op.f("uq_consumers_app_id_identifier")),
    )
    with op.batch_alter_table("consumers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consumers_app_id_group_name"), ["app_id", "group_name"], unique=False
        )

    op.create_table(
        "envs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_envs_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envs")),
        sa.UniqueConstraint("app_id", "name", name=op.f("uq_envs_app_id_name")),
    )
    op.create_table(
        "received_messages",
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_received_messages_app_id_apps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("app_id", "kind", "uuid", name=op.f("pk_received_messages")),
    )
    with op.batch_alter_table("received_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_received_messages_received_at"), ["received_at"], unique=False)

    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("path_key", sa.String(length=1000), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("in_startup", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_endpoints_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("env_id", "method", "path_key", name=op.f("uq_endpoints_env_id_method_path_key")),
    )
    op.create_table(
        "error_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=500), nullable=False),
        sa.Column("msg", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("loc", sa.JSON(), nullable=True),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_error_groups_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_groups")),
        sa.UniqueConstraint(
            "env_id",
            "kind",
            "endpoint_id",
            "fingerprint",
            name=op.f("uq_error_groups_env_id_kind_endpoint_id_fingerprint"),
        ),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("versions", sa.JSON(), nullable=True),
        sa.Column("app_version", sa.String(length=100), nullable=True),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_startup_at", sa.Float(), nullable=True),
        sa.Column("last_sync_at", sa.Float(), nullable=True),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("memory_rss", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_instances_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
        sa.UniqueConstraint("env_id", "instance_uuid", name=op.f("uq_instances_env_id_instance_uuid")),
    )
    op.create_table(
        "metrics",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("granularity", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("consumer_id", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=False),
        sa.Column("request_size_sum", sa.BigInteger(), nullable=False),
        sa.Column("response_size_sum", sa.BigInteger(), nullable=False),
        sa.Column("response_times", sa.Text(), nullable=False),
        sa.Column("request_sizes", sa.Text(), nullable=False),
        sa.Column("response_sizes", sa.Text(), nullable=False),
        sa.Column("rolled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_metrics_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metrics_env_id_granularity_level_bucket"),
            ["env_id", "granularity", "level", "bucket"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_metrics_env_id_granularity_level_consumer_id_bucket"),
            ["env_id", "granularity", "level", "consumer_id", "bucket"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_metrics_env_id_granularity_level_endpoint_id_bucket"),
            ["env_id", "granularity", "level", "endpoint_id", "bucket"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_metrics_granularity_rolled_bucket"),
            ["granularity", "rolled", "bucket"],
            unique=False,
        )

    op.create_table(
        "request_logs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=True),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response_time", sa.Float(), nullable=False),
        sa.Column("consumer_id", sa.Integer(), nullable=True),
        sa.Column("request_size", sa.BigInteger(), nullable=True),
        sa.Column("response_size", sa.BigInteger(), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name=op.f("fk_request_logs_env_id_envs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_logs")),
        sa.UniqueConstraint("env_id", "uuid", name=op.f("uq_request_logs_env_id_uuid")),
    )
    with op.batch_alter_table("request_logs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_logs_env_id_timestamp"), ["env_id", "timestamp"], unique=False
        )

    op.create_table(
        "error_counts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("consumer_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sentry_event_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["error_groups.id"],
            name=op.f("fk_error_counts_group_id_error_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_counts")),
    )
    with op.batch_alter_table("error_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_error_counts_bucket"), ["bucket"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_error_counts_group_id_bucket"), ["group_id", "bucket"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("error_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_counts_group_id_bucket"))
        batch_op.drop_index(batch_op.f("ix_error_counts_bucket"))

    op.drop_table("error_counts")
    with op.batch_alter_table("request_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_logs_env_id_timestamp"))

    op.drop_table("request_logs")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metrics_granularity_rolled_bucket"))
        batch_op.drop_index(batch_op.f("ix_metrics_env_id_granularity_level_endpoint_id_bucket"))
        batch_op.drop_index(batch_op.f("ix_metrics_env_id_granularity_level_consumer_id_bucket"))
        batch_op.drop_index(batch_op.f("ix_metrics_env_id_granularity_level_bucket"))

    op.drop_table("metrics")
    op.drop_table("instances")
    op.drop_table("error_groups")
    op.drop_table("endpoints")
    with op.batch_alter_table("received_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_received_messages_received_at"))

    op.drop_table("received_messages")
    op.drop_table("envs")
    with op.batch_alter_table("consumers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consumers_app_id_group_name"))

    op.drop_table("consumers")
    op.drop_table("leases")
    op.drop_table("apps")
    op.drop_table("api_tokens")
