// What may go into an HTTP/1.1 header, shared by the upstream client that writes headers
// (src/http1/client-pool.ts) and the config that supplies some of them (a provider's key
// and extra headers), so a header the client would refuse is refused at start instead.

/** An RFC 9110 token: a header name or a method. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** What would end a header value early or split the request: CR, LF, NUL. */
export const UNSAFE_HEADER_VALUE = /[\r\n\0]/;
