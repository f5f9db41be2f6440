from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_committed_migrations_match_the_models() -> None:
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
