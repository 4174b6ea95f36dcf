// Minimal typing of the autocannon entry the HTTP bench uses (the package ships none).
declare module 'autocannon' {
  interface AutocannonResult {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    errors: number;
    non2xx: number;
    timeouts: number;
    duration: number;
  }
  function autocannon(opts: Record<string, unknown>): Promise<AutocannonResult>;
  export default autocannon;
}
