// The shapes the SDK works with; types only, nothing here reaches the bundle.

export type Level = 'fatal' | 'error' | 'warning' | 'info' | 'debug';

export interface Breadcrumb {
  timestamp?: number;
  category: 'click' | 'navigation' | 'fetch' | 'xhr' | 'console' | 'custom';
  message: string;
  level?: Level;
  data?: Record<string, unknown>;
}

/** A native event as posted to the collector (docs/sending-events.md). */
export interface FmEvent {
  type: string;
  event_id?: string;
  timestamp?: number;
  url?: string;
  route?: string;
  message?: string;
  stack?: string;
  [field: string]: unknown;
}

export interface Options {
  /** `http(s)://<public key>@<host>[/<prefix>]/<project id>` */
  dsn: string;
  release?: string;
  environment?: string;
  /** Share of error events kept (0..1). */
  sampleRate?: number;
  /** Share of sessions whose other events (page views, vitals, clicks…) are kept. */
  sessionSampleRate?: number;
  beforeSend?: (event: FmEvent) => FmEvent | null | undefined | false;
  ignoreErrors?: Array<string | RegExp>;
  denyUrls?: Array<string | RegExp>;
  maxEventsPerPage?: number;
  maxEventsPerFingerprint?: number;
  captureApi?: false | { failedStatus?: [number, number]; ignoreUrls?: Array<string | RegExp> };
  whiteScreen?: false | { roots?: string[]; delayMs?: number; retries?: number; intervalMs?: number };
  vitals?: boolean;
  pageviews?: boolean;
  sessions?: boolean;
  clicks?: boolean;
  spa?: boolean;
  anonymousVisitorId?: boolean;
  /** The route of a location (`/product/:id`); the path by default. */
  route?: (location: Location) => string | undefined;
  /** Flush after this many events, or this long after the first unsent one. */
  batchSize?: number;
  flushIntervalMs?: number;
  plugins?: Plugin[];
}

export interface Hub {
  o: Options;
  /** Builds, filters and queues an event; its id, or undefined when dropped. */
  capture(event: FmEvent, fingerprint?: string): string | undefined;
  crumb(b: Breadcrumb): void;
  /** Whether a URL is the SDK's own endpoint (never captured). */
  own(url: string): boolean;
  route(): string | undefined;
  /** Called after every SPA route change, with the URL left. */
  onRoute(cb: (from: string) => void): void;
  /** Called when the page is hidden (`exit` false) or goes away (true), before the queue is sent. */
  onLeave(cb: (exit: boolean) => void): void;
  session(): { start: number; pages: number; errors: number };
}

export type Plugin = (hub: Hub) => void;
