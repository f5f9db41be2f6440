"""Generation hooks of `scripts/schemathesis`.

Webhook URLs (`format: uri`): schemathesis stretches the host name to reach the field's
`maxLength` (2,048), far past the 253 characters a DNS name can have, and the API rightly
refuses such a URL with a 400 naming the field. No schema keyword can bound a host name inside a
URI, so URLs are generated the way a receiver can have them: http or https, a host name of at most
253 characters, an optional path.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st
from hypothesis.provisional import domains

schemathesis.openapi.format("uri", st.builds(
    "{}://{}{}".format,
    st.sampled_from(["http", "https"]),
    domains(max_length=253),
    st.sampled_from(["", "/", "/hooks/waha", "/in?token=abc"]),
))
