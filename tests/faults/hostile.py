"""Hostile feed bodies, generated (none is stored in the repository). Each is a complete feed file."""

from __future__ import annotations

HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'


def _item(n: int, *, title: str | None = None, link: str | None = None, guid: str | None = None,
          description: str | None = None, pub: str = "Mon, 02 Mar 2026 10:00:00 +0000") -> str:
    title = title if title is not None else f"Hostile item {n} about the harbour council budget"
    link = link if link is not None else f"https://hostile.example.org/item/{n}"
    guid = guid if guid is not None else f"hostile-{n}"
    description = description if description is not None else (
        f"Plain text of hostile item {n}: the council met on Monday to discuss the harbour budget "
        f"and the new railway line number {n * 7919}.")
    return (f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid><pubDate>{pub}</pubDate>"
            f"<description>{description}</description></item>")


def feed(items: str, *, doctype: str = "", title: str = "Hostile feed") -> bytes:
    return (f"{HEAD}{doctype}<rss version=\"2.0\"><channel><title>{title}</title>"
            f"<link>https://hostile.example.org/</link><description>x</description>{items}</channel></rss>\n"
            ).encode()


def billion_laughs() -> bytes:
    ents = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                                      for i in range(1, 10)]
    doctype = "<!DOCTYPE rss [" + "".join(ents) + "]>"
    return feed(_item(1, description="&lol9;") + _item(2), doctype=doctype)


def quadratic_blowup() -> bytes:
    doctype = '<!DOCTYPE rss [<!ENTITY a "' + "x" * 50_000 + '">]>'
    return feed(_item(1, description="&a;" * 40_000) + _item(2), doctype=doctype)


def external_entity(listener: str = "http://127.0.0.1:9") -> bytes:
    """``listener``: where the web entity points; a test passes a recorder's URL to see that nothing asks it."""
    doctype = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY web SYSTEM "{listener}/x">]>'
    return feed(_item(1, description="before &xxe; middle &web; after") + _item(2), doctype=doctype)


def parameter_entity_dtd(listener: str = "http://127.0.0.1:9") -> bytes:
    doctype = (f'<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{listener}/evil.dtd"> %remote; '
               '<!ELEMENT rss ANY><!ATTLIST item id ID #IMPLIED>]>')
    return feed(_item(1) + _item(2), doctype=doctype)


def deep_nesting(depth: int = 100_000) -> bytes:
    return feed(_item(1) + "<x>" * depth + "</x>" * depth + _item(2))


def megabyte_title(size: int = 5_000_000) -> bytes:
    return feed(_item(1, title="Headline " + "word " * (size // 5)) + _item(2))


def many_items(n: int = 10_000) -> bytes:
    return feed("".join(_item(i, description=f"Item {i} of a very long feed, text {i * 31337}.") for i in range(n)))


def duplicate_guids() -> bytes:
    return feed(_item(1) + _item(2) + _item(3, guid="hostile-1", title="Same guid, other item")
                + _item(4, guid="hostile-2", title="Same guid again"))


def invalid_utf8() -> bytes:
    good = feed(_item(1, description="caf\u00e9 ISO-MARK na\u00efve") + _item(2))
    return good.replace(b"ISO-MARK", b"\xff\xfe\xc3(\xa0\xa1 \xed\xa0\x80")


def nul_bytes() -> bytes:
    return feed(_item(1, description="before NUL-MARK after") + _item(2)).replace(b"NUL-MARK", b"\x00\x00x\x00")


def lone_surrogate() -> bytes:
    return feed(_item(1, description="bad &#xD800; ref and &#0; and &#x110000;") + _item(2))


def scripts_html() -> bytes:
    html = ("&lt;p onclick=&quot;steal()&quot;&gt;Hello&lt;/p&gt;&lt;script&gt;alert(document.cookie)&lt;/script&gt;"
            "&lt;img src=x onerror=alert(1)&gt;&lt;a href=&quot;javascript:alert(2)&quot;&gt;link&lt;/a&gt;"
            "&lt;iframe src=&quot;https://evil.example/&quot;&gt;&lt;/iframe&gt;&lt;style&gt;body{}&lt;/style&gt;"
            " the harbour council budget text goes on")
    return feed(_item(1, description=html) + _item(2))


def extreme_dates() -> bytes:
    return feed(_item(1, pub="Sat, 01 Jan 0000 00:00:00 +0000") + _item(2, pub="Fri, 31 Dec 9999 23:59:59 +0000")
                + _item(3, pub="not a date at all"))


def missing_fields() -> bytes:
    return feed("<item><description>no title, no link, no guid: text only about the harbour</description></item>"
                "<item><title>Only a title</title></item>" + _item(3))


def long_url() -> bytes:
    import random
    import string

    rnd = random.Random(7)
    path = "".join(rnd.choice(string.ascii_letters) for _ in range(9000))
    return feed(_item(1, link=f"https://hostile.example.org/{path}") + _item(2))


def not_xml() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20


def commented_doctype_bomb(padding: int = 1_200_000) -> bytes:
    """a comment holding ``<x>`` and ``<![CDATA[`` before a DOCTYPE of nested entities. A scanner that
    takes the ``<x>`` for the root (and the CDATA for real) leaves the DOCTYPE to expat, which expands ``&l6;`` into a
    100,000,000-character title; the padding before it keeps expat's amplification guard quiet."""
    ents = '<!ENTITY l0 "' + "x" * 100 + '">' + "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 7))
    return (f'{HEAD}<!-- <x> <![CDATA[ --><!DOCTYPE rss [{ents}]><rss version="2.0"><channel>'
            f"<description>{'p' * padding}</description><title>&l6;</title><link>https://hostile.example.org/</link>"
            + _item(1) + _item(2) + "</channel></rss>\n").encode()


def encoded_doctype_bomb() -> bytes:
    """A DOCTYPE that only appears once the body is decoded as its declared UTF-7: in the raw bytes it sits inside a
    comment (``+AC0ALQA+-`` decodes to ``-->``, and ``+ACY-`` to ``&``)."""
    ents = '<!ENTITY l0 "' + "x" * 100 + '">' + "".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 7))
    rest = (f'<!DOCTYPE rss [{ents}]><rss version="2.0"><channel><title>&l6;</title>'
            f"<link>https://hostile.example.org/</link>{_item(1)}</channel></rss>\n")
    utf7 = rest.encode().replace(b"+", b"+-").replace(b"&", b"+ACY-")  # "+" itself is written "+-"
    root = utf7.index(b"<rss")
    return b'<?xml version="1.0" encoding="utf-7"?><!-- +AC0ALQA+- ' + utf7[:root] + b" -->" + utf7[root:]


def json_feed(items: list[str], extra: str = "") -> bytes:
    """A JSON Feed 1.1 of raw item texts (each a JSON object written out, so it may hold odd literals)."""
    return ('{"version": "https://jsonfeed.org/version/1.1", "title": "Hostile JSON feed",'
            f' "home_page_url": "https://hostile.example.org/"{extra}, "items": [' + ", ".join(items) + "]}").encode()


def _json_item(n: int, extra: str = "", ident: str | None = None) -> str:
    return (f'{{"id": {ident if ident is not None else chr(34) + f"hostile-{n}" + chr(34)},'
            f' "url": "https://hostile.example.org/item/{n}", "title": "Hostile JSON item {n} on the harbour budget",'
            f' "content_text": "Text of hostile JSON item {n}: the council met about railway line {n * 7919}.",'
            f' "date_published": "2026-03-02T10:00:00Z"{extra}}}')


def json_bad_numbers(huge_literal: bool = True) -> bytes:
    """numbers that made int() raise outside the per-item isolation, or made json refuse the body
    (``huge_literal``: item 2's id is a 5,000-digit integer literal, else a string)."""
    att = ', "attachments": [{{"url": "https://hostile.example.org/a{n}.mp3", "size_in_bytes": {size}}}]'
    return json_feed([
        _json_item(0, att.format(n=0, size='"\u00b2"')),  # isdigit() is true for a superscript two
        _json_item(1, att.format(n=1, size='"' + "1" * 5000 + '"')),  # over int()'s 4300-digit limit
        _json_item(2, ident="1" * 5000 if huge_literal else None),  # an integer literal json.loads refuses
        _json_item(3, att.format(n=3, size="1e999")),  # a float that is infinite
        _json_item(4, ', "tags": {"not": "a list"}, "authors": "nobody"'),  # fields of the wrong type
        _json_item(5),
    ])


def many_json_items(n: int = 5000) -> bytes:
    """one JSON Feed with ``n`` small items (1.3 MB gave 70,000 articles in one transaction)."""
    return json_feed([_json_item(i) for i in range(n)])


def tiny_json_items(size: int = 10_000_000) -> bytes:
    """a JSON Feed of ``size`` bytes (the feed cap) made of the smallest items, ``{"id":"N"}`` with no blanks:
    ~630,000 of them, the most Python objects a body under the cap can become."""
    head = b'{"version":"https://jsonfeed.org/version/1.1","title":"Tiny items","items":['
    items, total, n = [], len(head) + 2, 0
    while total < size - 20:
        item = f'{{"id":"{n}"}}'
        items.append(item)
        total += len(item) + 1
        n += 1
    return head + ",".join(items).encode() + b"]}"


def quadratic_fields() -> bytes:
    """fields whose clean-up was quadratic (a lazy ``.*?`` tried from every opener, an e-mail pattern
    tried from every letter): a title of 40,000 ``<!--``, a summary of 40,000 ``<script>``, an 80 KB author."""
    title = "&lt;!--" * 40_000
    summary = "&lt;script&gt;" * 40_000
    item = ("<item><title>" + title + "</title><link>https://hostile.example.org/item/1</link><guid>hostile-1</guid>"
            "<pubDate>Mon, 02 Mar 2026 10:00:00 +0000</pubDate><author>" + "a" * 80_000 + "@</author>"
            "<description>" + summary + "</description><content:encoded>&lt;p&gt;Body of the hostile item about the "
            "harbour.&lt;/p&gt;</content:encoded></item>")
    body = feed(item + _item(2))
    return body.replace(b'<rss version="2.0">',
                        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">')
