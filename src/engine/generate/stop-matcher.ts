/**
 * Stop strings over streamed text: text is released only once it cannot be
 * the start of a stop string, so nothing past a stop string is ever emitted,
 * even when the stop string arrives split across tokens.
 */

export class StopMatcher {
  private pending = '';
  private readonly stops: readonly string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /**
   * Adds text; returns what may be emitted now and whether a stop string ended the text.
   *
   * @example
   * const m = new StopMatcher(['\nUser:']);
   * m.push('Hi\nUs');   // { text: 'Hi', stopped: false }
   * m.push('er: more'); // { text: '', stopped: true }
   */
  push(text: string): { text: string; stopped: boolean } {
    this.pending += text;
    const stops = this.stops;
    let first = -1;
    for (const stop of stops) {
      const at = this.pending.indexOf(stop);
      if (at !== -1 && (first === -1 || at < first)) first = at;
    }
    if (first !== -1) {
      const out = this.pending.slice(0, first);
      this.pending = '';
      return { text: out, stopped: true };
    }
    // Hold back the longest tail that some stop string starts with.
    let hold = 0;
    for (const stop of stops) {
      for (let n = Math.min(stop.length - 1, this.pending.length); n > hold; n--) {
        if (this.pending.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text: out, stopped: false };
  }

  /** The held-back text, at the end of generation. */
  flush(): string {
    const out = this.pending;
    this.pending = '';
    return out;
  }
}
