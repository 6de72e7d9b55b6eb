"""Search quality: the documented search column answers a fixed set of consumer queries with the same
articles as before the write path was made cheaper.

A fixed selection of feeds from tests/data (the syndication fixtures and corpus feeds in nine languages, among
them articles of up to 70,000 characters) goes through the real ``wirefeed ingest``; then every query below
runs as a consumer would (docs/consumers.md: ``articles.search`` with ``websearch_to_tsquery``,
``phraseto_tsquery`` or a prefix ``to_tsquery`` in the language's configuration, or ``simple``). The expected
hit sets are data: what main's ``articles.search`` (migration 0004, the full text of every article) returned
for these queries before the one-write change. Articles are named by canonical URL, or ``title:`` + title when they have
none. Words that occur only deep in long articles ("deep" queries) check that the whole text is still
searched; the ranked queries check that the title still weighs more than the text.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from tests.conftest import CORPUS, DATA, FIXTURES

INPUTS = [
    FIXTURES / "ahram-online.atom",
    FIXTURES / "allafrica-egypt.rss",
    FIXTURES / "sis-gov-eg.rss",
    DATA / "pages" / "allafrica-egypt-summaries.rss",
    CORPUS / "mediacloud-rss-fetcher/fetcher/test/fixtures/real-korean-times.rss",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/rose.json",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/3960.json",
    CORPUS / "rss-parser/test/input/heise.atom",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/phpxml.rss",
    CORPUS / "rss-parser/test/input/encoding.rss",
    CORPUS / "miniflux/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml",
    CORPUS / "miniflux/internal/reader/parser/testdata/no_encoding_ISO-8859-1.xml",
    CORPUS / "feed-rs/feed-rs/fixture/rss2/rss_2.0_ilmessaggero.xml",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/aktuality.rss",
    CORPUS / "miniflux/internal/reader/parser/testdata/urdu_UTF8.xml",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/kc0011.rss",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/russcox.atom",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/dcrainmaker.xml",
    CORPUS / "rss-parser/test/input/guardian.rss",
    CORPUS / "rsparser/Tests/RSParserTests/Resources/489.rss",
]

# name -> (tsquery expression with one %s per use of the text, query text)
QUERIES: dict[str, tuple[str, str]] = {
    "en-word": ("websearch_to_tsquery('english', %s)", "Haftar"),
    "en-stem": ("websearch_to_tsquery('english', %s)", "recycling batteries"),
    "en-phrase": ("websearch_to_tsquery('english', %s)", '"North Korea"'),
    "en-phrase-fn": ("phraseto_tsquery('english', %s)", "public goods"),
    "en-or": ("websearch_to_tsquery('english', %s)", "Napoli or Chelsea"),
    "en-not": ("websearch_to_tsquery('english', %s)", "Korea conglomerates -recession"),
    "en-prefix": ("to_tsquery('english', %s)", "cryptocurr:*"),
    "en-prefix-and": ("to_tsquery('english', %s)", "unicod:* & byte:*"),
    "en-deep-name": ("websearch_to_tsquery('english', %s)", "Vyssotsky"),
    "en-deep-two": ("websearch_to_tsquery('english', %s)", "Epson stroller"),
    "en-deep-stem": ("websearch_to_tsquery('english', %s)", "chainrings"),
    "en-several": ("websearch_to_tsquery('english', %s)", "versioned modules"),
    "en-fixtures": ("websearch_to_tsquery('english', %s)", "Egypt Libya"),
    "de-word": ("websearch_to_tsquery('german', %s)", "Anwendungsserver"),
    "de-stem": ("websearch_to_tsquery('german', %s)", "Vorträge"),
    "de-prefix": ("to_tsquery('german', %s)", "entwickl:*"),
    "nl-word": ("websearch_to_tsquery('dutch', %s)", "Feyenoord"),
    "nl-phrase": ("websearch_to_tsquery('dutch', %s)", '"FC Twente"'),
    "pt-word": ("websearch_to_tsquery('portuguese', %s)", "autocarro"),
    "pt-stem": ("websearch_to_tsquery('portuguese', %s)", "greves"),
    "ru-word": ("websearch_to_tsquery('russian', %s)", "документация"),
    "ru-prefix": ("to_tsquery('russian', %s)", "программ:*"),
    "fr-word": ("websearch_to_tsquery('french', %s)", "travail"),
    "it-word": ("websearch_to_tsquery('italian', %s)", "Polonia"),
    "sk-simple": ("websearch_to_tsquery('simple', %s)", "Dárfúr"),
    "ur-simple": ("websearch_to_tsquery('simple', %s)", "پاکستان امریکہ تعاون"),
    "zh-prefix": ("to_tsquery('simple', %s)", "泰山:*"),
    "ko-simple": ("websearch_to_tsquery('simple', %s)", "신한은행과"),
    "two-configs": ("websearch_to_tsquery('english', %s) || websearch_to_tsquery('simple', %s)", "Scrum"),
}

# name -> (query expression, text): the three best-ranked articles (ts_rank), best first
RANKED: dict[str, tuple[str, str]] = {
    "rank-title-first": ("websearch_to_tsquery('english', %s)", "Korean War"),
    "rank-de": ("websearch_to_tsquery('german', %s)", "Release"),
}

EXPECTED: dict[str, list[str]] = {
    "en-word": [
        "https://allafrica.com/stories/202509160123.html",
        "https://english.ahram.org.eg/NewsContent/1/1234/552211/Egypt/Politics-/.aspx",
        "title:Egypt: Egypt, Libya Military Chiefs Discuss Boosting Security Cooperation in Cairo"
    ],
    "en-stem": [
        "https://www.koreatimes.co.kr/www/nation/2022/07/120_333285.html?fl",
        "https://www.koreatimes.co.kr/www/tech/2022/07/133_333383.html?fl",
        "https://www.rosemaryorchard.com/blog/tile-finding-the-things-i-lose"
    ],
    "en-phrase": [
        "https://www.koreatimes.co.kr/www/nation/2022/07/103_333307.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/103_333353.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/103_333416.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/103_333419.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/103_333432.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/120_333480.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/205_333426.html?fl"
    ],
    "en-phrase-fn": [
        "https://www.koreatimes.co.kr/www/opinon/2022/07/197_333375.html?fl"
    ],
    "en-or": [
        "https://www.koreatimes.co.kr/www/nation/2022/07/600_333479.html?fl"
    ],
    "en-not": [
        "https://www.koreatimes.co.kr/www/nation/2022/07/419_333450.html?fl"
    ],
    "en-prefix": [
        "https://medium.com/@hodlhodl/hodl-hodl-announces-otc-trading-desk-and-brokerage-company-tenbagger-fed4be91db6?source=rss-b1f3d322dadf------2",
        "https://medium.com/@hodlhodl/hodl-hodl-introduces-2-out-of-3-multisig-escrow-b2110580e036?source=rss-b1f3d322dadf------2",
        "https://medium.com/@hodlhodl/introducing-a-new-feature-chat-attachments-bb0d749b4381?source=rss-b1f3d322dadf------2",
        "https://medium.com/@hodlhodl/introducing-a-new-feature-offer-balance-341c9e3ff0e7?source=rss-b1f3d322dadf------2",
        "https://medium.com/@hodlhodl/update-on-hodl-hodl-new-payment-type-cryptocurrency-ca7b7ab94b2f?source=rss-b1f3d322dadf------2",
        "https://www.koreatimes.co.kr/www/nation/2022/07/743_333305.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/816_333314.html?fl",
        "https://www.theguardian.com/technology/2018/jan/31/facebook-bans-ads-cryptocurrencies-scams"
    ],
    "en-prefix-and": [
        "http://research.swtch.com/utf8"
    ],
    "en-deep-name": [
        "http://research.swtch.com/bell-labs"
    ],
    "en-deep-two": [
        "https://www.dcrainmaker.com/2017/11/apple-watch-series3-cellular-fitness-sport-review.html",
        "https://www.dcrainmaker.com/2017/11/epsons-new-prosense-running-triathlon-gps-watches-everything-you-ever-wanted-to-know.html"
    ],
    "en-deep-stem": [
        "https://www.dcrainmaker.com/2017/11/power-meters-annual-buyers-guide-2017-edition.html"
    ],
    "en-several": [
        "http://research.swtch.com/deps",
        "http://research.swtch.com/tlog",
        "http://research.swtch.com/vgo-cmd",
        "http://research.swtch.com/vgo-module",
        "http://research.swtch.com/vgo-mvs",
        "http://research.swtch.com/vgo-repro",
        "https://journal.3960.org/posts/2019-10-01-redirects-fuer-apache-verstehen/"
    ],
    "en-fixtures": [
        "https://allafrica.com/stories/202509160123.html",
        "https://english.ahram.org.eg/NewsContent/1/1234/552211/Egypt/Politics-/.aspx",
        "title:Egypt: Egypt, Libya Military Chiefs Discuss Boosting Security Cooperation in Cairo"
    ],
    "de-word": [
        "http://www.heise.de/developer/meldung/Java-Anwendungsserver-Red-Hat-gibt-WildFly-10-frei-3088438.html?wt_mc=rss.developer.beitrag.atom"
    ],
    "de-stem": [
        "http://www.heise.de/developer/meldung/Scrum-Day-2016-Bewerbungen-fuer-Vortraege-und-Workshops-3088627.html?wt_mc=rss.developer.beitrag.atom"
    ],
    "de-prefix": [
        "http://www.heise.de/developer/meldung/Aenderungen-bei-der-Authentifizierung-in-Microsofts-v2-0-App-Model-3088319.html?wt_mc=rss.developer.beitrag.atom",
        "http://www.heise.de/developer/meldung/Facebook-schliesst-Parse-Plattform-3086857.html?wt_mc=rss.developer.beitrag.atom",
        "http://www.heise.de/developer/meldung/Ungewisse-Zukunft-des-MySQLDumper-Projekts-3088410.html?wt_mc=rss.developer.beitrag.atom",
        "https://journal.3960.org/posts/2019-04-10-bilder-iframes-einfach-mit-lazy-loading-ausstatten/",
        "https://journal.3960.org/posts/2019-04-24-verantwortung-von-software/",
        "https://journal.3960.org/posts/2019-05-08-rueckkehr-von-b-und-i/",
        "https://journal.3960.org/posts/2019-09-13-programmierung-zurueck-zur-werkbank/",
        "https://journal.3960.org/posts/2019-10-12-microsoft-flight-simulator-2020-was-er-bewirken-wird/",
        "https://journal.3960.org/posts/2019-10-14-kalaschnikow-programmierung/",
        "https://journal.3960.org/posts/2019-10-27-event-handling-mit-javascript-ohne-jquery/"
    ],
    "nl-word": [
        "https://www.fcutrecht.net/nieuws/fc-utrecht-wint-met-3-1-van-cercle-brugge~8799",
        "https://www.fcutrecht.net/nieuws/fotoverslag-fc-utrecht-feyenoord-nog-even-nagenieten~8792",
        "https://www.fcutrecht.net/nieuws/kaartverkoop-fc-utrecht-feyenoord~8781",
        "https://www.fcutrecht.net/nieuws/matchday-fc-utrecht-feyenoord-utrfey~8780",
        "https://www.fcutrecht.net/nieuws/samenvatting-fc-utrecht-feyenoord~8791",
        "https://www.fcutrecht.net/nieuws/tijdstip-fc-utrecht-feyenoord-blijft-op-12-15-uur~8786"
    ],
    "nl-phrase": [
        "https://www.fcutrecht.net/nieuws/fc-utrecht-wint-met-3-1-van-cercle-brugge~8799",
        "https://www.fcutrecht.net/nieuws/kaartverkoop-fc-twente-fc-utrecht~8790",
        "https://www.fcutrecht.net/nieuws/nieuw-forum-op-fcutrecht-net-vervoer-gezocht-aangeboden~8801",
        "https://www.fcutrecht.net/nieuws/serdar-g-z-b-y-k-scheidsrechter-bij-fc-twente-fc-utrecht~8805"
    ],
    "pt-word": [
        "http://feeds.jn.pt/~r/JN-ULTIMAS/~3/8J22QWiUlWQ/acidente-com-autocarro-na-curva-do-diabo-matou-48-pessoas-no-peru-9021216.html"
    ],
    "pt-stem": [
        "http://feeds.jn.pt/~r/JN-ULTIMAS/~3/jkSYLDzLF_4/600-guardas-prisionais-de-baixa-durante-a-greve-9020769.html"
    ],
    "ru-word": [
        "http://ibash.org.ru/quote.php?id=17394",
        "http://ibash.org.ru/quote.php?id=17707"
    ],
    "ru-prefix": [
        "http://ibash.org.ru/quote.php?id=17227",
        "http://ibash.org.ru/quote.php?id=17316",
        "http://ibash.org.ru/quote.php?id=17356",
        "http://ibash.org.ru/quote.php?id=17363",
        "http://ibash.org.ru/quote.php?id=17381",
        "http://ibash.org.ru/quote.php?id=17703",
        "http://ibash.org.ru/quote.php?id=17714"
    ],
    "fr-word": [
        "https://le-cercle-psy.scienceshumaines.com/travail-organisations-emploi-les-modeles-europeens_sh_33090"
    ],
    "it-word": [
        "https://www.ilmessaggero.it/mondo/missili_polonia_cosa_e_successo_davvero-7054869.html"
    ],
    "sk-simple": [
        "https://www.aktuality.sk/clanok/856523/v-sudanskom-regione-darfur-sa-opat-rozhoreli-nasilnosti-hlasia-desiatky-obeti/"
    ],
    "ur-simple": [
        "http://www.bbc.com/urdu/pakistan-41097529",
        "http://www.bbc.com/urdu/pakistan-42645212"
    ],
    "zh-prefix": [
        "http://www.kc0011.net/dispbbs.asp?BoardID=10&ID=25164103&Page=1",
        "http://www.kc0011.net/dispbbs.asp?BoardID=10&ID=25164202&Page=1"
    ],
    "ko-simple": [
        "https://www.koreatimes.co.kr/www/nation/2022/07/743_333305.html?fl"
    ],
    "two-configs": [
        "http://www.heise.de/developer/meldung/Scrum-Day-2016-Bewerbungen-fuer-Vortraege-und-Workshops-3088627.html?wt_mc=rss.developer.beitrag.atom"
    ]
}

EXPECTED_RANKED: dict[str, list[str]] = {
    "rank-title-first": [
        "https://www.koreatimes.co.kr/www/nation/2022/07/205_333470.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/281_333374.html?fl",
        "https://www.koreatimes.co.kr/www/nation/2022/07/205_333392.html?fl"
    ],
    "rank-de": [
        "https://www.koreatimes.co.kr/www/opinon/2022/07/202_333447.html?fl",
        "https://www.theguardian.com/us-news/2018/jan/31/fbi-nunes-memo-release-donald-trump",
        "http://research.swtch.com/vgo-cmd"
    ]
}


def _hits(conn: psycopg.Connection, expr: str, text: str) -> list[str]:
    query = sql.SQL("SELECT coalesce(a.url, 'title:' || a.title) FROM articles a "
                    "WHERE a.search @@ ({})").format(sql.SQL(expr))
    return sorted(r[0] for r in conn.execute(query, [text] * expr.count("%s")))


def _ranked(conn: psycopg.Connection, expr: str, text: str) -> list[str]:
    query = sql.SQL("SELECT coalesce(a.url, 'title:' || a.title) FROM articles a, (SELECT {} AS q) s "
                    "WHERE a.search @@ s.q ORDER BY ts_rank(a.search, s.q) DESC, a.url LIMIT 3").format(sql.SQL(expr))
    return [r[0] for r in conn.execute(query, [text] * expr.count("%s"))]


def test_queries_find_the_same_articles_as_before(cli, conn: psycopg.Connection) -> None:
    r = cli("ingest", "--no-pages", *map(str, INPUTS), timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(QUERIES) >= 20
    got = {name: _hits(conn, expr, text) for name, (expr, text) in QUERIES.items()}
    assert all(got.values())  # every query finds something
    wrong = {name: (got[name], EXPECTED[name]) for name in QUERIES if got[name] != EXPECTED[name]}
    assert wrong == {}
    ranked = {name: _ranked(conn, expr, text) for name, (expr, text) in RANKED.items()}
    assert ranked == EXPECTED_RANKED
