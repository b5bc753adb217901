// Docker's word rules for Dockerfile instructions (BuildKit's shell lexer): quotes, the escape
// character and `$VAR`/`${VAR}` substitution with its modifiers. RUN, CMD and ENTRYPOINT are not
// substituted here: their shell does that inside the env.

export class DockerWordError extends Error {}

const NAME = /[A-Za-z0-9_]/;

/**
 * Splits `text` into words on unquoted whitespace, removing quotes and escapes and substituting
 * variables from `vars` (an unset variable is empty). `escape` is the Dockerfile's escape
 * character (`\`, or `` ` `` with the `# escape=` directive).
 */
export function processWords(text: string, vars: Record<string, string>, escape = '\\'): string[] {
  return new Lexer(text, vars, escape).words(true);
}

/** One word: quotes and escapes removed, variables substituted, whitespace kept as it is. */
export function processWord(text: string, vars: Record<string, string>, escape = '\\'): string {
  return new Lexer(text, vars, escape).words(false).join('');
}

/**
 * A COPY heredoc's content with an unquoted delimiter: `$VAR` and `${VAR…}` substituted, quotes
 * and every other character kept as written (BuildKit expands heredocs without processing
 * quotes), the escape character only escaping a `$` (so `\n` in a config file stays `\n`).
 */
export function expandHeredoc(text: string, vars: Record<string, string>, escape = '\\'): string {
  return new Lexer(text, vars, escape).heredoc();
}

/**
 * Splits on unquoted whitespace only, keeping quotes, escapes and `$` as written: how ENV and
 * LABEL find their `key=value` pairs before each value is processed on its own.
 */
export function splitRaw(text: string, escape = '\\'): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      cur += c;
      if (c === escape && quote === '"' && i + 1 < text.length) cur += text[++i];
      else if (c === quote) quote = '';
      continue;
    }
    if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
      continue;
    }
    has = true;
    cur += c;
    if (c === escape && i + 1 < text.length) cur += text[++i];
    else if (c === '"' || c === '\'') quote = c;
  }
  if (quote) throw new DockerWordError(`unmatched ${quote} quote`);
  if (has) out.push(cur);
  return out;
}

class Lexer {
  private i = 0;
  constructor(private readonly s: string, private readonly vars: Record<string, string>, private readonly esc: string) {}

  words(split: boolean): string[] {
    const out: string[] = [];
    let cur = '';
    let has = false;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (split && /\s/.test(c)) {
        if (has) out.push(cur);
        cur = '';
        has = false;
        this.i++;
        continue;
      }
      has = true;
      if (c === '\'') cur += this.single();
      else if (c === '"') cur += this.double();
      else if (c === '$') cur += this.dollar();
      else if (c === this.esc) {
        this.i++;
        if (this.i < this.s.length) cur += this.s[this.i++];
        else cur += c;
      } else {
        cur += c;
        this.i++;
      }
    }
    if (has) out.push(cur);
    return out;
  }

  heredoc(): string {
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === this.esc && this.s[this.i + 1] === '$') { out += '$'; this.i += 2; }
      else if (c === '$') out += this.dollar();
      else { out += c; this.i++; }
    }
    return out;
  }

  private single(): string {
    const end = this.s.indexOf('\'', this.i + 1);
    if (end < 0) throw new DockerWordError('unmatched \' quote');
    const v = this.s.slice(this.i + 1, end);
    this.i = end + 1;
    return v;
  }

  private double(): string {
    this.i++;
    let v = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '"') { this.i++; return v; }
      if (c === '$') { v += this.dollar(); continue; }
      if (c === this.esc && this.i + 1 < this.s.length) {
        const n = this.s[this.i + 1]!;
        // Inside double quotes the escape only escapes ", $ and itself.
        if (n === '"' || n === '$' || n === this.esc) { v += n; this.i += 2; continue; }
      }
      v += c;
      this.i++;
    }
    throw new DockerWordError('unmatched " quote');
  }

  private dollar(): string {
    this.i++; // the $
    const c = this.s[this.i];
    if (c === '{') return this.braced();
    let name = '';
    // `$1` is a positional parameter: one digit, as in the shell.
    if (/[0-9]/.test(c ?? '')) name = this.s[this.i++]!;
    else while (this.i < this.s.length && NAME.test(this.s[this.i]!)) name += this.s[this.i++];
    if (!name) return '$';
    return this.vars[name] ?? '';
  }

  private braced(): string {
    this.i++; // the {
    let name = '';
    while (this.i < this.s.length && NAME.test(this.s[this.i]!)) name += this.s[this.i++];
    if (!name) throw new DockerWordError(`bad substitution: \${ must be followed by a variable name`);
    if (this.s[this.i] === '}') { this.i++; return this.vars[name] ?? ''; }
    let op = this.s[this.i] ?? '';
    this.i++;
    if (op === ':') {
      const n = this.s[this.i] ?? '';
      if (!'-+?'.includes(n) || !n) throw new DockerWordError(`bad substitution in \${${name}:${n}…}: use :-, :+ or :?`);
      op = `:${n}`;
      this.i++;
    } else if ((op === '#' || op === '%') && this.s[this.i] === op) {
      op += op;
      this.i++;
    } else if (!'-+?#%/'.includes(op) || !op) {
      throw new DockerWordError(`bad substitution in \${${name}${op}…}: unsupported modifier ${JSON.stringify(op)}`);
    }
    const word = this.nested();
    const set = Object.prototype.hasOwnProperty.call(this.vars, name);
    const value = this.vars[name] ?? '';
    switch (op) {
      case ':-': return set && value !== '' ? value : word;
      case '-': return set ? value : word;
      case ':+': return set && value !== '' ? word : '';
      case '+': return set ? word : '';
      case ':?': if (set && value !== '') return value; throw new DockerWordError(`${name}: ${word || 'is not set or empty'}`);
      case '?': if (set) return value; throw new DockerWordError(`${name}: ${word || 'is not set'}`);
      case '#': case '##': {
        // Shortest (#) or longest (##) prefix matching the pattern is removed.
        const re = globRegex(word);
        for (let k = 0; k <= value.length; k++) {
          const n = op === '#' ? k : value.length - k;
          if (re.test(value.slice(0, n))) return value.slice(n);
        }
        return value;
      }
      case '%': case '%%': {
        const re = globRegex(word);
        for (let k = 0; k <= value.length; k++) {
          const n = op === '%' ? value.length - k : k;
          if (re.test(value.slice(n))) return value.slice(0, n);
        }
        return value;
      }
      default: { // `/pattern/replacement`: the first longest match
        const slash = word.indexOf('/');
        const [pat, rep] = slash < 0 ? [word, ''] : [word.slice(0, slash), word.slice(slash + 1)];
        const re = globRegex(pat);
        for (let a = 0; a < value.length; a++) {
          for (let b = value.length; b > a; b--) if (re.test(value.slice(a, b))) return value.slice(0, a) + rep + value.slice(b);
        }
        return value;
      }
    }
  }

  /** The word after a modifier, up to the matching `}`, itself processed (quotes, nested `$`). */
  private nested(): string {
    let v = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '}') { this.i++; return v; }
      if (c === '\'') v += this.single();
      else if (c === '"') v += this.double();
      else if (c === '$') v += this.dollar();
      else if (c === this.esc && this.i + 1 < this.s.length) { v += this.s[this.i + 1]; this.i += 2; }
      else { v += c; this.i++; }
    }
    throw new DockerWordError('missing } in variable substitution');
  }
}

/** A shell pattern (`*`, `?`, `[…]`) as a regex matching a whole string. */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[' && pattern.indexOf(']', i + 2) > 0) {
      const end = pattern.indexOf(']', i + 2);
      re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}
