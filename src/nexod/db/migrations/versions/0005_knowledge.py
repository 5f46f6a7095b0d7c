"""knowledge base: kb_documents and vector_metadata

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

The full-text indexes over ``vector_metadata.text`` (an FTS5 table on SQLite, a GIN index on
PostgreSQL) are derived data and are created by the knowledge base on start
(:func:`nexod.knowledge.keyword.setup_keyword_index`), not here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('kb_documents',
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('namespace', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', BIGID, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('chunk_count', sa.Integer(), nullable=False),
    sa.Column('embedding_model', sa.String(length=200), nullable=False),
    sa.Column('metadata', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_kb_documents'))
    )
    with op.batch_alter_table('kb_documents', schema=None) as batch_op:
        batch_op.create_index('ix_kb_documents_org_ns', ['org_id', 'namespace', 'created_at'], unique=False)
        batch_op.create_index('uq_kb_documents_source', ['org_id', 'namespace', 'source'], unique=True)

    op.create_table('vector_metadata',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('chunk_id', sa.String(length=120), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('namespace', sa.String(length=200), nullable=False),
    sa.Column('document_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('chunk_index', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('char_start', sa.Integer(), nullable=False),
    sa.Column('char_end', sa.Integer(), nullable=False),
    sa.Column('section', sa.Text(), nullable=True),
    sa.Column('page', sa.Integer(), nullable=True),
    sa.Column('metadata', JSON, nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('embedding_model', sa.String(length=200), nullable=False),
    sa.Column('embedding_dim', sa.Integer(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['kb_documents.document_id'], name=op.f('fk_vector_metadata_document_id_kb_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vector_metadata'))
    )
    with op.batch_alter_table('vector_metadata', schema=None) as batch_op:
        batch_op.create_index('ix_vector_metadata_document', ['document_id', 'version'], unique=False)
        batch_op.create_index('ix_vector_metadata_org_ns', ['org_id', 'namespace'], unique=False)
        batch_op.create_index('uq_vector_metadata_chunk', ['chunk_id'], unique=True)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS vector_metadata_fts")  # SQLite's derived full-text index
    with op.batch_alter_table('vector_metadata', schema=None) as batch_op:
        batch_op.drop_index('uq_vector_metadata_chunk')
        batch_op.drop_index('ix_vector_metadata_org_ns')
        batch_op.drop_index('ix_vector_metadata_document')
    op.drop_table('vector_metadata')
    with op.batch_alter_table('kb_documents', schema=None) as batch_op:
        batch_op.drop_index('uq_kb_documents_source')
        batch_op.drop_index('ix_kb_documents_org_ns')
    op.drop_table('kb_documents')
