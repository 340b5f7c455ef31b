/** Escapes a value for an XML attribute or text, as numeric character references. */
export function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
