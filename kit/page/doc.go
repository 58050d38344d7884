// Package page is kitshop's pagination, shared by every list operation
// whatever its transport: the page_size rules of the API contract and
// opaque page_token cursors bound to the query they page through.
//
// A list operation clamps the requested size with Size, and hands the
// client EncodeToken(lastRowSortKey, bind) as next_page_token. On the next
// call DecodeToken(token, bind) gives the sort key back, or a 400
// INVALID_PAGE_TOKEN when the token was tampered with or made for another
// query. bind is whatever must not change between pages, usually a
// Fingerprint of the query and its filters (never the page size, which a
// client may change between pages); "" when the list has no filters.
//
// The package knows nothing of HTTP or gRPC: transports read the raw
// page_size and page_token and services apply these rules, so both
// transports answer the same way.
package page
