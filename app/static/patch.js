// RFC 6902 JSON Patch (add / remove / replace) over RFC 6901 JSON pointers.
//
// applyPatch(doc, ops) returns the patched document. The input document is
// changed in place where possible (the root may be replaced, hence the return
// value); values taken from ops are cloned so later ops never alias them.
// Anything the RFC calls an error throws PatchError: a silently wrong state
// is worse than a loud one.

export class PatchError extends Error {
  constructor(message) {
    super(message);
    this.name = "PatchError";
  }
}

// "" -> []; "/a~1b/~0c/0" -> ["a/b", "~c", "0"]. ~1 before ~0, per RFC 6901 §4.
export function parsePointer(pointer) {
  if (pointer === "") return [];
  if (typeof pointer !== "string" || pointer[0] !== "/") {
    throw new PatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  }
  return pointer
    .slice(1)
    .split("/")
    .map((token) => {
      if (/~[^01]|~$/.test(token)) {
        throw new PatchError(`invalid escape in JSON pointer ${JSON.stringify(pointer)}`);
      }
      return token.replace(/~1/g, "/").replace(/~0/g, "~");
    });
}

function isContainer(value) {
  return value !== null && typeof value === "object";
}

function arrayIndex(token, length, allowEnd) {
  if (allowEnd && token === "-") return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw new PatchError(`${JSON.stringify(token)} is not an array index`);
  }
  const index = Number(token);
  if (index > length || (!allowEnd && index === length)) {
    throw new PatchError(`array index ${index} out of range (length ${length})`);
  }
  return index;
}

function own(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

// A plain assignment to "__proto__" would change the prototype; define instead.
function setOwn(object, key, value) {
  Object.defineProperty(object, key, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

// The container that holds the last token of the path.
function parentOf(doc, tokens, pointer) {
  let node = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) {
      node = node[arrayIndex(token, node.length, false)];
    } else if (isContainer(node) && own(node, token)) {
      node = node[token];
    } else {
      throw new PatchError(`path ${pointer} does not exist`);
    }
  }
  if (!isContainer(node)) throw new PatchError(`path ${pointer} has no container parent`);
  return node;
}

function applyOp(doc, op) {
  const tokens = parsePointer(op.path);
  if (op.op !== "remove" && !("value" in op)) {
    throw new PatchError(`${op.op} at ${op.path} has no value`);
  }
  const value = op.op === "remove" ? undefined : structuredClone(op.value);
  if (tokens.length === 0) {
    if (op.op === "remove") return null;
    if (op.op === "add" || op.op === "replace") return value;
    throw new PatchError(`unsupported op ${JSON.stringify(op.op)}`);
  }
  const parent = parentOf(doc, tokens, op.path);
  const last = tokens[tokens.length - 1];
  switch (op.op) {
    case "add":
      if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true), 0, value);
      else setOwn(parent, last, value);
      return doc;
    case "remove":
      if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, false), 1);
      else if (own(parent, last)) delete parent[last];
      else throw new PatchError(`cannot remove missing ${op.path}`);
      return doc;
    case "replace":
      if (Array.isArray(parent)) parent[arrayIndex(last, parent.length, false)] = value;
      else if (own(parent, last)) setOwn(parent, last, value);
      else throw new PatchError(`cannot replace missing ${op.path}`);
      return doc;
    default:
      throw new PatchError(`unsupported op ${JSON.stringify(op.op)}`);
  }
}

export function applyPatch(doc, ops) {
  if (!Array.isArray(ops)) throw new PatchError("a patch is an array of ops");
  let result = doc;
  for (const op of ops) result = applyOp(result, op);
  return result;
}
