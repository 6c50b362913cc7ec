"""``python -m service``: see service.entrypoint."""

import gc

# Almost everything a start allocates (modules, the knowledge base's catalogue) lives as
# long as the process, so the collector's passes during the imports and startup steps
# walk it again and again for a few hundred cyclic objects: about a tenth of a restart's
# CPU. service.serve freezes what is there and turns the collector back on before the
# first request; service.entrypoint turns it back on at once for the other commands.
gc.disable()

from service.entrypoint import main  # noqa: E402 - after gc.disable(), on purpose

raise SystemExit(main())
