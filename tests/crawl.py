"""Walking the admin as a user would: from the index, breadth first, along every link a page
shows (query strings included), so that a page nobody links to is never opened and a page
somebody links to always is."""

import re
from collections.abc import Iterator

from django.http import HttpResponse
from django.test import Client

HREF = re.compile(r'href="(/admin/[^"#]*)"')
# Links that are not pages to open: logging out is a form (and would end the walk).
NOT_FOLLOWED = re.compile(r"/logout/")


def is_html(response: HttpResponse) -> bool:
    return "html" in response.get("Content-Type", "")


def crawl(
    client: Client, start: str = "/admin/", limit: int = 400
) -> Iterator[tuple[str, HttpResponse]]:
    """Every URL reachable from ``start`` by links, with its answer. Links are read from HTML
    pages that answered 200 only; downloads and other answers are yielded, not read."""
    queue, seen = [start], {start}
    while queue and len(seen) < limit:
        url = queue.pop(0)
        response = client.get(url)
        yield url, response
        if response.status_code != 200 or not is_html(response):
            continue
        for link in HREF.findall(response.content.decode()):
            link = link.replace("&amp;", "&")
            if link not in seen and not NOT_FOLLOWED.search(link):
                seen.add(link)
                queue.append(link)
