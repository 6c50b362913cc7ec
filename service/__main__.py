"""``python -m service``: see service.entrypoint."""

from service.entrypoint import main

raise SystemExit(main())
