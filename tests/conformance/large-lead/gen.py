"""Writes lead.json of the large-lead case, and prints the expected output
computed independently of the engine (to check a blessed expected.json)."""
import json
import sys
from pathlib import Path

ITEMS = 2000
SENTENCES = 1000


def lead():
    items = [
        {
            "sku": f"SKU-{i:05d}",
            "qty": i,
            "note": f"Grüße, ruf an: +49 30 {900000 + i} oder buyer{i}@example.com",
        }
        for i in range(ITEMS)
    ]
    notes = " ".join(
        f"Satz {i}: Kontakt ada{i}@example.org, Karte 4111 1111 1111 1111, IP 10.0.{i % 10}.1."
        for i in range(SENTENCES)
    )
    return {"id": "L-large", "items": items, "notes": notes, "dropped": "x" * 1000}


def expected():
    items = [
        {"sku": f"SKU-{i:05d}", "note": "Grüße, ruf an: [PHONE] oder [EMAIL]"}
        for i in range(ITEMS)
    ]
    notes = " ".join(
        f"Satz {i}: Kontakt [EMAIL], Karte [CREDIT_CARD], IP [IPV4]." for i in range(SENTENCES)
    )
    out = {"id": "L-large", "items": items, "notes": notes}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n"


if __name__ == "__main__":
    here = Path(__file__).parent
    (here / "lead.json").write_text(json.dumps(lead(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        actual = (here / "expected.json").read_text(encoding="utf-8")
        sys.exit(0 if actual == expected() else "expected.json differs from the independent computation")
