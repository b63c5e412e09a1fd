import addFormats from 'ajv-formats';
import OpenAPIBackend from 'openapi-backend';
import type { Document } from 'openapi-backend';

/** A response that the served OpenAPI document does not describe. */
export class ContractViolationError extends Error {
  constructor(
    readonly request: string,
    readonly status: number,
    readonly problems: string[],
  ) {
    super(`${request} → ${status} breaks the served OpenAPI document:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ContractViolationError';
  }
}

/**
 * Checks real responses against the OpenAPI document a server serves, with openapi-backend.
 * Strict: an object schema that lists its properties promises nothing else (undeclared fields
 * are errors, so a view cannot pass internal fields through), formats such as date-time are
 * checked, and a status the operation does not document is a violation too.
 */
export class OpenApiContract {
  private constructor(private readonly api: OpenAPIBackend) {}

  static async fromDocument(document: object): Promise<OpenApiContract> {
    const api = new OpenAPIBackend({
      definition: strict(structuredClone(document)) as Document,
      strict: true,
      validate: true,
      quick: false,
      customizeAjv: (ajv) => {
        addFormats(ajv);
        return ajv;
      },
    });
    await api.init();
    return new OpenApiContract(api);
  }

  /** The document served at `${baseUrl}${docPath}` (Nest's Swagger module serves it as JSON). */
  static async served(baseUrl: string, docPath = '/api/docs-json'): Promise<OpenApiContract> {
    const res = await fetch(`${baseUrl}${docPath}`);
    if (!res.ok) throw new Error(`GET ${docPath} answered ${res.status}`);
    return OpenApiContract.fromDocument((await res.json()) as object);
  }

  /** The problems of one response (empty when the document describes it). */
  problems(method: string, pathWithQuery: string, status: number, body: unknown): string[] {
    const url = new URL(pathWithQuery, 'http://contract.invalid');
    const operation = this.api.matchOperation({ method: method.toLowerCase(), path: url.pathname, headers: {}, query: url.search.slice(1) });
    if (!operation) return [`${method} ${url.pathname} is not in the document`];
    const documented = Object.keys(operation.responses ?? {});
    if (!documented.includes(String(status)) && !documented.includes('default')) {
      return [`status ${status} is not documented for ${operation.operationId} (documented: ${documented.join(', ')})`];
    }
    const { errors } = this.api.validateResponse(body, operation, status);
    return (errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  }

  /** Throws ContractViolationError unless the document describes the response. */
  check(method: string, pathWithQuery: string, status: number, body: unknown): void {
    const problems = this.problems(method, pathWithQuery, status, body);
    if (problems.length) throw new ContractViolationError(`${method} ${pathWithQuery}`, status, problems);
  }
}

/** Object schemas with listed properties and no word on others get `additionalProperties: false`. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) node.forEach(strict);
  else if (node && typeof node === 'object') {
    const schema = node as Record<string, unknown>;
    if (schema.properties && typeof schema.properties === 'object' && !('additionalProperties' in schema)) {
      schema.additionalProperties = false;
    }
    Object.values(schema).forEach(strict);
  }
  return node;
}
