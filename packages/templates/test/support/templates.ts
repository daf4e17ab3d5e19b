import { parse, type DefaultTreeAdapterTypes } from 'parse5';
import { bindEmailTemplate, compileMjml, loadEmailTemplateSources, type CompiledEmailTemplate, type EmailTemplateSource, type EmailTemplateType, type RenderContext } from '@crm/templates';

export const context: RenderContext = Object.freeze({
  unsubscribeUrl: 'https://crm.example.com/u/tok_3f9a1c',
  postalAddress: 'Event Planner, 1 Example Street, Springfield, USA',
});

export interface Prepared {
  readonly source: EmailTemplateSource;
  readonly template: CompiledEmailTemplate;
}

let prepared: Promise<Map<EmailTemplateType, Prepared>> | undefined;

/** Every template from the repository files, compiled (MJML) once for the test file and bound. */
export function prepareAll(): Promise<Map<EmailTemplateType, Prepared>> {
  prepared ??= Promise.all(
    loadEmailTemplateSources().map(async (source): Promise<[EmailTemplateType, Prepared]> => [source.messageType, { source, template: bindEmailTemplate(source, await compileMjml(source)) }]),
  ).then((entries) => new Map(entries));
  return prepared;
}

export async function prepare(type: EmailTemplateType): Promise<Prepared> {
  const found = (await prepareAll()).get(type);
  if (!found) throw new Error(`no template ${type}`);
  return found;
}

type Node = DefaultTreeAdapterTypes.Node;
type Element = DefaultTreeAdapterTypes.Element;

const childrenOf = (node: Node): Node[] => [
  ...('childNodes' in node ? node.childNodes : []),
  ...('content' in node && node.nodeName === 'template' ? (node as DefaultTreeAdapterTypes.Template).content.childNodes : []),
];

/** Every element of `html` as a browser parses it. */
export function elements(html: string): Element[] {
  const found: Element[] = [];
  const walk = (node: Node): void => {
    if ('tagName' in node) found.push(node);
    childrenOf(node).forEach(walk);
  };
  walk(parse(html));
  return found;
}

/** The text a reader sees: every text node, joined. */
export function visibleText(html: string): string {
  const parts: string[] = [];
  const walk = (node: Node): void => {
    if (node.nodeName === '#text') parts.push((node as DefaultTreeAdapterTypes.TextNode).value);
    if (node.nodeName === 'style' || node.nodeName === 'head') return;
    childrenOf(node).forEach(walk);
  };
  walk(parse(html));
  return parts.join('').replace(/\s+/g, ' ');
}

/** The text inside one element. */
export function textOf(element: Element): string {
  const parts: string[] = [];
  const walk = (node: Node): void => {
    if (node.nodeName === '#text') parts.push((node as DefaultTreeAdapterTypes.TextNode).value);
    childrenOf(node).forEach(walk);
  };
  walk(element);
  return parts.join('').replace(/\s+/g, ' ').trim();
}

export const attribute = (element: Element, name: string): string | undefined => element.attrs.find((a) => a.name === name)?.value;
