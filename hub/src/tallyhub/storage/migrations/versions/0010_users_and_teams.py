"""users, teams, memberships, sessions, login attempts, invites; apps.team_id and api_tokens.team_id

Revision ID: 0010
Revises: 0001
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_TEAM = "Default"


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_memberships_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "team_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_team_id"), "memberships", ["team_id"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.create_index(op.f("ix_sessions_expires_at"), "sessions", ["expires_at"], unique=False)
    op.create_table(
        "login_attempts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.Float(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(
        op.f("ix_login_attempts_email_attempted_at"),
        "login_attempts",
        ["email", "attempted_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_login_attempts_ip_attempted_at"), "login_attempts", ["ip", "attempted_at"], unique=False
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_invites_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invites_token_hash")),
    )
    # Plain ADD COLUMN, no batch rebuild: rebuilding `apps` on SQLite drops the table, and with foreign
    # keys on, that cascades to every env and its data. Hence the columns are nullable.
    _add_team_column("apps", "")
    _add_team_column("api_tokens", " ON DELETE CASCADE")

    # Apps made before teams existed go to the default team, so that someone can see them.
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM apps")).scalar():
        conn.execute(
            sa.text("INSERT INTO teams (name, created_at) VALUES (:name, :now)"),
            {"name": DEFAULT_TEAM, "now": time.time()},
        )
        conn.execute(
            sa.text("UPDATE apps SET team_id = (SELECT id FROM teams WHERE name = :name)"),
            {"name": DEFAULT_TEAM},
        )


def _add_team_column(table: str, on_delete: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Alembic only adds a foreign key on SQLite through a batch rebuild; SQLite's own
        # ADD COLUMN accepts an inline REFERENCES clause on a nullable column.
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN team_id INTEGER"
            f" CONSTRAINT fk_{table}_team_id_teams REFERENCES teams (id){on_delete}"
        )
    else:
        op.add_column(table, sa.Column("team_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_{table}_team_id_teams"),
            table,
            "teams",
            ["team_id"],
            ["id"],
            ondelete="CASCADE" if on_delete else None,
        )
    op.create_index(op.f(f"ix_{table}_team_id"), table, ["team_id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Dropping a foreign-key column needs a table rebuild on SQLite, and rebuilding `apps` would
        # cascade-delete every env and its data: refuse rather than lose data.
        raise NotImplementedError("migration 0010 cannot be reverted on SQLite")
    op.drop_index(op.f("ix_api_tokens_team_id"), table_name="api_tokens")
    op.drop_column("api_tokens", "team_id")
    op.drop_index(op.f("ix_apps_team_id"), table_name="apps")
    op.drop_column("apps", "team_id")
    op.drop_table("invites")
    op.drop_index(op.f("ix_login_attempts_ip_attempted_at"), table_name="login_attempts")
    op.drop_index(op.f("ix_login_attempts_email_attempted_at"), table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index(op.f("ix_sessions_expires_at"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_user_id"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index(op.f("ix_memberships_team_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("users")
    op.drop_table("teams")
