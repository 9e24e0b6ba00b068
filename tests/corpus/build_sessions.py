#!/usr/bin/python3
"""Builds sessions-legit.jsonl: modelled sessions of legitimate clients that meet missing pages
(issue 13). Deterministic (seeded); run it to rebuild the file after editing the models below:

    python3 tests/corpus/build_sessions.py > tests/corpus/sessions-legit.jsonl

These are MODELS written for this project, not captured traffic: the kinds of client, their pace
and their habits follow public documentation of each kind of client (crawler politeness and
revisits of removed URLs, feed readers' 30-minute polling, uptime monitors' 1-5 minute checks,
W3C checklink/LinkChecker sending the page that links as Referer), and the removed URLs are the
shapes of the page names of common PHP, ASP, JSP/Struts, CGI and phpBB sites, not of scanner lists.

One JSON object a line:
  {"session": NAME, "kind": KIND, "ua": USER-AGENT, "note": WHY,
   "requests": [[T, METHOD, TARGET, REFERER, EXISTS], ...]}
T is seconds from the session's start (real time; the replay compresses it), REFERER is null or a
path of the same site (the replay makes it an absolute URL of the server under test), EXISTS says
whether the site has the page now (the replay creates those files; a target ending in "/" is a
directory with an index.html).
"""
import json
import random
import sys

R = random.Random(13)

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
YANDEX = "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"
DDG = "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)"
APPLE = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"
ARCHIVE = "Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)"
CHECKLINK = "W3C-checklink/5.0.0 libwww-perl/6.68"
LINKCHECKER = "Mozilla/5.0 (compatible; LinkChecker/10.2; +https://linkchecker.github.io/linkchecker/)"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers; like FeedFetcher-Google)"
TTRSS = "Tiny Tiny RSS/22.08 (https://tt-rss.org/)"
UPTIME = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
PINGDOM = "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"

# The pages the site has now (after its move to a static generator): every session may ask them.
PAGES = ["/", "/about/", "/blog/", "/contact/", "/news/", "/products/", "/feed.xml",
         "/css/site.css", "/js/site.js", "/images/logo.png", "/docs/brochure.pdf", "/sitemap.xml"]
PAGES += ["/blog/%d/post-%d.html" % (2020 + i % 5, i) for i in range(40)]
PAGES += ["/news/item-%d.html" % i for i in range(20)]


def crawl(removed, n_pages, span, start_robots=True, burst=0.25, rng=R):
    """A crawler's visit: robots.txt, then existing pages and removed URLs in random order over
    span seconds; gaps exponential, and with probability `burst` the next fetch follows at once
    (crawlers open a few connections at a time)."""
    items = [(p, True) for p in rng.sample(PAGES, min(n_pages, len(PAGES)))]
    items += [(p, False) for p in removed]
    rng.shuffle(items)
    mean = span / (len(items) + 1)
    t, out = 0.0, []
    if start_robots:
        out.append([0.0, "GET", "/robots.txt", None, True])
        t = rng.uniform(1, 5)
    for p, ex in items:
        out.append([round(t, 2), "GET", p, None, ex])
        t += rng.uniform(0.2, 1.5) if rng.random() < burst else rng.expovariate(1 / mean)
    return out


def php_removed():
    names = ["about", "services", "team", "contact_us", "events", "calendar", "faq", "sitemap",
             "press", "jobs", "partners", "history", "testimonials", "portfolio", "pricing",
             "support", "downloads", "gallery", "links", "guestbook", "newsletter", "privacy",
             "terms", "imprint", "location", "opening-hours", "menu", "reservations", "offers"]
    out = ["/%s.php" % n for n in names]
    out += ["/news.php?id=%d" % i for i in (12, 57)]
    out += ["/product.php?id=%d" % i for i in (3, 8, 21)]
    out += ["/blog/post.php?slug=spring-sale", "/gallery/album.php?a=4"]
    return out


def asp_removed():
    out = ["/default.asp", "/aboutus.asp", "/contactus.asp", "/Careers.aspx", "/Services.aspx",
           "/shop/basket.aspx", "/shop/checkout.aspx", "/en/Products.aspx", "/en/Support.aspx",
           "/locations.asp", "/faq.aspx", "/Privacy.aspx", "/sitemap.aspx", "/events/list.asp",
           "/press/releases.aspx", "/downloads.aspx", "/team.asp", "/history.asp"]
    out += ["/news/article.asp?id=%d" % i for i in (101, 117, 132, 140)]
    out += ["/products/list.asp?cat=%d" % i for i in (2, 5, 9)]
    out += ["/search.aspx?q=brochure", "/Default.aspx?tabid=56"]
    return out


def jsp_removed():
    out = ["/index.jsp", "/home.jsp", "/shop/catalog.jsp", "/shop/cart.jsp", "/news/list.jsp",
           "/about.jsp", "/contact.jsp", "/account/register.jsp", "/products/detail.jsp",
           "/support/faq.jsp", "/careers.jsp", "/store/locator.jsp"]
    out += ["/shop/product.do?id=%d" % i for i in (14, 77, 301)]
    out += ["/login.do", "/catalog/browse.do?cat=garden", "/app/home.action",
            "/app/news.action?page=2", "/shop/category.do?c=9", "/news/list.jsp?page=3"]
    return out


def cgi_removed():
    out = ["/cgi-bin/guestbook.cgi", "/cgi-bin/counter.cgi", "/cgi-bin/calendar.pl",
           "/cgi-bin/links.cgi", "/cgi-bin/poll.cgi", "/cgi-bin/classifieds.cgi",
           "/cgi-bin/awstats.pl?config=www.example.org", "/cgi-bin/search.pl?q=garden",
           "/cgi-bin/guestbook.cgi?page=2", "/cgi-bin/events.cgi?month=5",
           "/cgi-bin/mailinglist.pl", "/cgi-bin/photos.cgi?album=summer"]
    return out


def phpbb_removed():
    out = ["/forum/index.php", "/forum/faq.php", "/forum/memberlist.php", "/forum/search.php",
           "/forum/viewonline.php", "/forum/ucp.php?mode=register", "/forum/ucp.php?mode=login"]
    out += ["/forum/viewforum.php?f=%d" % i for i in range(1, 9)]
    out += ["/forum/viewtopic.php?t=%d" % R.randint(10, 4000) for _ in range(30)]
    out += ["/forum/viewtopic.php?f=2&t=%d&start=15" % R.randint(10, 4000) for _ in range(5)]
    out += ["/forum/memberlist.php?mode=viewprofile&u=%d" % R.randint(2, 900) for _ in range(4)]
    out += ["/forum/posting.php?mode=reply&f=2&t=%d" % R.randint(10, 4000) for _ in range(2)]
    return out


def archive_removed():
    """Old CMS URLs an archive replays (Joomla 1.x, PHP-Nuke, WordPress before the move, e107)."""
    out = ["/index.php?option=com_content&task=view&id=%d&Itemid=%d" % (R.randint(1, 300), R.randint(1, 60))
           for _ in range(14)]
    out += ["/index.php?option=com_contact&Itemid=3", "/index2.php?option=com_content&do_pdf=1&id=12",
            "/index.php/component/content/article/7-news/41-summer-fair"]
    out += ["/modules.php?name=News&file=article&sid=%d" % R.randint(1, 500) for _ in range(6)]
    out += ["/modules.php?name=Downloads", "/modules.php?name=Forums"]
    out += ["/?p=%d" % R.randint(10, 900) for _ in range(5)]
    out += ["/wp-content/themes/garden/style.css", "/wp-content/uploads/2012/05/fair.jpg",
            "/images/stories/fair2009.jpg", "/news.php?item.%d" % R.randint(1, 300),
            "/page.php?4", "/e107_plugins/forum/forum.php", "/download.php?view.12"]
    return out


def sessions():
    S = []

    def add(name, kind, ua, note, reqs):
        S.append({"session": name, "kind": kind, "ua": ua, "note": note, "requests": reqs})

    add("googlebot-removed-php", "crawler", GOOGLEBOT,
        "a search engine revisiting the 36 removed PHP pages of a site over an hour, between its "
        "existing pages", crawl(php_removed(), 50, 3600))
    add("bingbot-removed-php", "crawler", BINGBOT,
        "the same removed PHP pages, at a brisker pace (20 minutes) and in bursts",
        crawl(php_removed()[:24], 30, 1200, burst=0.4))
    add("bingbot-removed-asp", "crawler", BINGBOT,
        "removed ASP/ASPX pages of a site that moved off IIS", crawl(asp_removed(), 40, 3600))
    add("yandex-removed-jsp-struts", "crawler", YANDEX,
        "removed JSP pages and Struts .do/.action URLs", crawl(jsp_removed(), 30, 2400))
    add("duckduckbot-removed-cgi", "crawler", DDG,
        "removed CGI scripts under /cgi-bin/", crawl(cgi_removed(), 25, 1800))
    add("applebot-removed-phpbb", "crawler", APPLE,
        "a phpBB forum that was removed: topics, forums, profiles, over an hour",
        crawl(phpbb_removed(), 30, 3600))
    add("googlebot-removed-phpbb-fast", "crawler", GOOGLEBOT,
        "30 removed forum URLs in half an hour, many of them in bursts",
        crawl(phpbb_removed()[:30], 20, 1800, burst=0.5))
    add("archive-replay-old-cms", "archive", ARCHIVE,
        "an archive crawler replaying the URLs it holds of the site's old Joomla, PHP-Nuke, "
        "WordPress and e107 incarnations, over 25 minutes", crawl(archive_removed(), 20, 1500))

    # Link checkers after a migration: every link of every page, fast, with the linking page as
    # Referer (checklink and LinkChecker send it); HEAD first then GET for checklink.
    removed = [p for p in php_removed()[:30]] + ["/docs/old-brochure.pdf", "/images/team.jpg"]
    reqs, t = [], 0.0
    for page in ["/", "/about/", "/blog/", "/news/", "/products/"]:
        reqs.append([round(t, 2), "GET", page, None, True])
        t += 0.5
        for link in R.sample(PAGES, 6) + removed[:8]:
            reqs.append([round(t, 2), "HEAD", link, page, link in PAGES])
            t += R.uniform(0.3, 1.0)
            if link not in PAGES:
                reqs.append([round(t, 2), "GET", link, page, False])
                t += R.uniform(0.3, 1.0)
        removed = removed[8:] + removed[:8]
    add("checklink-after-migration", "link-checker", CHECKLINK,
        "the owner's link checker after the move from PHP: 32 broken links found in a minute",
        reqs)
    reqs, t = [], 0.0
    for page in ["/", "/blog/", "/contact/"] + ["/blog/%d/post-%d.html" % (2020 + i % 5, i) for i in range(6)]:
        reqs.append([round(t, 2), "GET", page, None, True])
        t += 0.2
        for link in R.sample(PAGES, 4) + R.sample(asp_removed(), 3):
            reqs.append([round(t, 2), "GET", link, page, link in PAGES])
            t += R.uniform(0.1, 0.4)
    add("linkchecker-after-migration", "link-checker", LINKCHECKER,
        "a recursive LinkChecker run: old ASP links left in the blog posts", reqs)

    # Feed readers polling a removed feed URL every 30 minutes for hours.
    add("feedly-removed-feed", "feed-reader", FEEDLY,
        "polls the old feed URL every 30 min for 3 hours (and the new one, which works)",
        [[i * 1800.0 + R.uniform(-30, 30) if i else 0.0, "GET", "/feed.php?type=rss2", None, False]
         for i in range(7)]
        + [[i * 1800.0 + 5.0, "GET", "/feed.xml", None, True] for i in range(7)])
    add("ttrss-two-removed-feeds", "feed-reader", TTRSS,
        "a self-hosted reader subscribed to two removed feeds (Joomla's and the blog's)",
        sorted([[i * 1800.0 + 2.0 * k, "GET", u, None, False]
                for i in range(7)
                for k, u in enumerate(["/index.php?format=feed&type=rss", "/blog/rss.php"])]))
    # Uptime monitors polling a removed status script.
    add("uptimerobot-removed-script", "monitor", UPTIME,
        "HEAD /status.php every 3 minutes for 2 hours after an upgrade removed it",
        [[i * 180.0, "HEAD", "/status.php", None, False] for i in range(40)])
    add("pingdom-removed-health-check", "monitor", PINGDOM,
        "GET /health.php?key=abc every minute for an hour, and the home page every 5 minutes",
        sorted([[i * 60.0, "GET", "/health.php?key=abc", None, False] for i in range(60)]
               + [[i * 300.0 + 1, "GET", "/", None, True] for i in range(12)]))

    # People.
    add("person-typos", "person", FIREFOX,
        "types the contact page's name wrong three times, then finds it",
        [[0.0, "GET", "/", None, True], [0.3, "GET", "/css/site.css", "/", True],
         [0.3, "GET", "/js/site.js", "/", True], [0.4, "GET", "/images/logo.png", "/", True],
         [9.0, "GET", "/contcat.php", None, False], [17.0, "GET", "/contakt.php", None, False],
         [26.0, "GET", "/kontact.php", None, False], [34.0, "GET", "/contact.php", None, True],
         [34.3, "GET", "/css/site.css", "/contact.php", True],
         [60.0, "GET", "/docs/brochure.pdf", "/contact.php", True]])
    add("person-typos-downloads", "person", SAFARI,
        "three tries at a downloads page, a reload of the last, then the menu",
        [[0.0, "GET", "/downlaods.php", None, False], [6.0, "GET", "/donwloads.php", None, False],
         [11.0, "GET", "/downloads.php?lang=en", None, False],
         [13.0, "GET", "/downloads.php?lang=en", None, False],
         [20.0, "GET", "/", None, True], [20.4, "GET", "/css/site.css", "/", True],
         [31.0, "GET", "/products/", "/", True], [45.0, "GET", "/docs/brochure.pdf", "/products/", True]])
    add("person-old-bookmarks", "person", FIREFOX,
        "opens the bookmarks of the old site one after the other, then browses the new one",
        [[0.0, "GET", "/members/login.php", None, False], [4.0, "GET", "/shop/cart.php?id=3", None, False],
         [9.0, "GET", "/account.php", None, False], [15.0, "GET", "/en/Products.aspx", None, False],
         [21.0, "GET", "/forum/index.php", None, False], [30.0, "GET", "/", None, True],
         [30.4, "GET", "/css/site.css", "/", True], [30.4, "GET", "/images/logo.png", "/", True],
         [52.0, "GET", "/blog/", "/", True], [80.0, "GET", "/blog/2021/post-1.html", "/blog/", True],
         [140.0, "GET", "/feed.xml", "/blog/", True]])
    add("person-broken-internal-links", "person", SAFARI,
        "follows links on the site's own pages that still point at old scripts",
        [[0.0, "GET", "/", None, True]]
        + [[5.0 + 8 * i, "GET", p, "/blog/%d/post-%d.html" % (2020 + i % 5, i), False]
           for i, p in enumerate(["/download.php?file=guide.pdf", "/gallery.php", "/events.php",
                                  "/product.php?id=8", "/calendar.php", "/order.php"])]
        + [[60.0, "GET", "/products/", "/", True]])
    return S


def main():
    have = set(PAGES) | {"/robots.txt", "/contact.php"}
    for s in sessions():
        s["requests"].sort(key=lambda r: r[0])
        for r in s["requests"]:
            # A removed URL whose path is a page of the site now (WordPress's /?p=N is the home
            # page of any site) is found.
            r[4] = r[4] or r[2].split("?", 1)[0] in have
        sys.stdout.write(json.dumps(s, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
