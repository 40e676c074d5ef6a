// Checks real HTTP answers against an OpenAPI 3.1 document: the path and method are documented,
// the status is one of the operation's responses, the content type is the one documented for
// it, and the body validates against its JSON Schema (ajv, draft 2020-12). Records which
// (operation, status) pairs were seen, so a test can show every documented answer happened.
import Ajv2020 from 'ajv/dist/2020';

interface Operation {
  operationId: string;
  responses: Record<string, Response | { $ref: string }>;
}
interface Response {
  content?: Record<string, { schema: unknown }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, Response> };
}

export interface OpenApiChecker {
  /** Throws when the answer is not what the document says. */
  check(method: string, path: string, status: number, contentType: string, body: unknown): void;
  /** operationId -> statuses seen. */
  seen: Map<string, Set<string>>;
  /** operationId -> statuses documented (without `default`). */
  documented(): Map<string, Set<string>>;
}

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

export function openApiChecker(doc: object): OpenApiChecker {
  const d = doc as Document;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(doc, 'openapi');
  const templates = Object.keys(d.paths).map((template) => ({
    template,
    regex: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  }));
  const seen = new Map<string, Set<string>>();
  return {
    seen,
    documented() {
      const out = new Map<string, Set<string>>();
      for (const ops of Object.values(d.paths))
        for (const op of Object.values(ops))
          out.set(op.operationId, new Set(Object.keys(op.responses).filter((s) => s !== 'default')));
      return out;
    },
    check(method, path, status, contentType, body) {
      const found = templates.find((t) => t.regex.test(path.split('?')[0]));
      const where = `${method} ${path} -> ${status}`;
      // A path the document does not describe is answered 404 problem+json; nothing else.
      if (!found) {
        if (status !== 404) throw new Error(`${where}: the path is not in the OpenAPI document`);
        return;
      }
      const op = d.paths[found.template][method.toLowerCase()];
      if (!op) {
        if (status !== 405) throw new Error(`${where}: the method is not in the OpenAPI document`);
        return;
      }
      const key = op.responses[String(status)] ? String(status) : 'default';
      let response = op.responses[key];
      if (!response) throw new Error(`${where}: status ${status} is not documented for ${op.operationId}`);
      let base = pointer('paths', found.template, method.toLowerCase(), 'responses', key);
      if ('$ref' in response) {
        const name = response.$ref.split('/').pop()!;
        response = d.components.responses[name];
        base = pointer('components', 'responses', name);
      }
      if (!seen.has(op.operationId)) seen.set(op.operationId, new Set());
      seen.get(op.operationId)!.add(key === 'default' ? String(status) : key);
      const content = response.content;
      if (!content) {
        if (body !== undefined)
          throw new Error(`${where}: documented without a body, got ${JSON.stringify(body)}`);
        return;
      }
      const type = contentType.split(';')[0].trim();
      if (!content[type])
        throw new Error(
          `${where}: content type ${type} is not documented (${Object.keys(content).join(', ')})`,
        );
      const validate = ajv.getSchema(`openapi#/${base}/content/${pointer(type)}/schema`);
      if (!validate) throw new Error(`${where}: no schema`);
      if (!validate(body))
        throw new Error(
          `${where}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
        );
    },
  };
}
