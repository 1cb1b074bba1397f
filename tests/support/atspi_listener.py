"""Listens on the AT-SPI bus as a screen reader does and writes one JSON line per event of
one application. Run with the system Python, which has pyatspi (python3-pyatspi):

    /usr/bin/python3 tests/support/atspi_listener.py APP_NAME LOG

Used by tests/test_gui_atspi.py; "ready" is the first line once the listeners are registered.
"""

import json
import sys

import pyatspi

EVENTS = [
    "object:state-changed:focused",
    "object:state-changed:showing",
    "object:state-changed:checked",
    "object:property-change:accessible-name",
    "object:property-change:accessible-description",
    "object:value-changed",
    "object:announcement",
    "window:activate",
]


def main() -> None:
    app_name, log_path = sys.argv[1], sys.argv[2]
    out = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (for the process's life)

    def on_event(event) -> None:
        try:
            if event.source.getApplication().name != app_name:
                return
            record = {"type": event.type, "role": event.source.getRoleName(),
                      "name": event.source.name, "detail1": event.detail1,
                      "data": event.any_data if isinstance(event.any_data, str) else None}
        except Exception:  # a source can vanish before it is read
            return
        out.write(json.dumps(record) + "\n")

    for kind in EVENTS:
        pyatspi.Registry.registerEventListener(on_event, kind)
    out.write("ready\n")
    pyatspi.Registry.start()


if __name__ == "__main__":
    main()
