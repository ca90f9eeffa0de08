"""Assets of the crawl domain."""
