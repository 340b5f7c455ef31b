/**
 * Reading a virTypedParameter array (the shape virDomainGetJobStats hands out) into a
 * plain record. The array stays libvirt's: the caller frees it with virTypedParamsFree.
 */
import ref from '@2060.io/ref-napi';
import {
  type Ptr,
  TYPED_PARAM_FIELD_LENGTH,
  TYPED_PARAM_OFFSET_TYPE,
  TYPED_PARAM_OFFSET_VALUE,
  TYPED_PARAM_SIZE,
  VIR_TYPED_PARAM_BOOLEAN,
  VIR_TYPED_PARAM_DOUBLE,
  VIR_TYPED_PARAM_INT,
  VIR_TYPED_PARAM_LLONG,
  VIR_TYPED_PARAM_STRING,
  VIR_TYPED_PARAM_UINT,
  VIR_TYPED_PARAM_ULLONG,
} from './libvirt-ffi.js';

export type TypedParamValue = number | boolean | string;

/**
 * Decodes `count` parameters from `array`. 64-bit integers become numbers: libvirt's
 * counters are byte counts and milliseconds, far below 2^53. Unknown types are skipped.
 */
export function readTypedParams(array: Ptr, count: number): Record<string, TypedParamValue> {
  const out: Record<string, TypedParamValue> = {};
  if (count <= 0 || ref.isNull(array)) return out;
  const view = ref.reinterpret(array, count * TYPED_PARAM_SIZE, 0);
  for (let i = 0; i < count; i++) {
    const base = i * TYPED_PARAM_SIZE;
    const nameEnd = view.indexOf(0, base);
    const field = view.toString('utf8', base, nameEnd >= 0 && nameEnd < base + TYPED_PARAM_FIELD_LENGTH ? nameEnd : base + TYPED_PARAM_FIELD_LENGTH);
    const value = readValue(view, view.readInt32LE(base + TYPED_PARAM_OFFSET_TYPE), base + TYPED_PARAM_OFFSET_VALUE);
    if (value !== undefined) out[field] = value;
  }
  return out;
}

function readValue(view: Buffer, type: number, offset: number): TypedParamValue | undefined {
  switch (type) {
    case VIR_TYPED_PARAM_INT:
      return view.readInt32LE(offset);
    case VIR_TYPED_PARAM_UINT:
      return view.readUInt32LE(offset);
    case VIR_TYPED_PARAM_LLONG:
      return Number(view.readBigInt64LE(offset));
    case VIR_TYPED_PARAM_ULLONG:
      return Number(view.readBigUInt64LE(offset));
    case VIR_TYPED_PARAM_DOUBLE:
      return view.readDoubleLE(offset);
    case VIR_TYPED_PARAM_BOOLEAN:
      return view.readInt8(offset) !== 0;
    case VIR_TYPED_PARAM_STRING: {
      const str = ref.readPointer(view, offset, 0);
      return ref.isNull(str) ? '' : ref.readCString(str, 0);
    }
    default:
      return undefined;
  }
}
