/**
 * Domain checkpoints: the libvirt metadata that names a dirty bitmap in each disk image.
 * Checkpoint pointers are short-lived like domain pointers: looked up, used, freed.
 */
import ref from '@2060.io/ref-napi';
import { borrowCString, takeCString } from './call.js';
import type { CallContext } from './connection.js';
import type { Domain } from './domain.js';
import {
  libc,
  libvirt,
  type Ptr,
  VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE,
  VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE,
  VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY,
  VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN,
} from './libvirt-ffi.js';

export interface RedefineOptions {
  /**
   * VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE: fail unless every disk's bitmap exists,
   * is recording and is consistent (not left `in-use` by a QEMU that was killed).
   */
  validate: boolean;
}

/**
 * Gives libvirt back the metadata of a checkpoint whose bitmaps are already in the images
 * (VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE), from XML an earlier getCheckpointXml returned.
 */
export function redefineCheckpoint(domain: Domain, xml: string, opts: RedefineOptions): Promise<void> {
  const flags = VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE | (opts.validate ? VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE : 0);
  return domain.connection.withDomain(domain.uuid, async (ctx, dom) => {
    libvirt.virDomainCheckpointFree(await ctx.ptr('virDomainCheckpointCreateXML', dom, xml, flags));
  });
}

/** A checkpoint's XML without the domain copy (VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN). */
export function getCheckpointXml(domain: Domain, name: string): Promise<string> {
  return withCheckpoint(domain, name, async (ctx, checkpoint) =>
    takeCString(await ctx.ptr('virDomainCheckpointGetXMLDesc', checkpoint, VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN)),
  );
}

export interface DeleteCheckpointOptions {
  /**
   * VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY: forget the checkpoint, keep its bitmaps in
   * the images. Without it, libvirt removes the bitmaps too.
   */
  metadataOnly: boolean;
}

/** Deletes a checkpoint (virDomainCheckpointDelete). Its children are left alone. */
export function deleteCheckpoint(domain: Domain, name: string, opts: DeleteCheckpointOptions): Promise<void> {
  const flags = opts.metadataOnly ? VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY : 0;
  return withCheckpoint(domain, name, async (ctx, checkpoint) => {
    await ctx.int('virDomainCheckpointDelete', checkpoint, flags);
  });
}

/** The names of the domain's checkpoints libvirt has metadata for (virDomainListAllCheckpoints). */
export function listCheckpoints(domain: Domain): Promise<string[]> {
  return domain.connection.withDomain(domain.uuid, async (ctx, dom) => {
    const out = Buffer.alloc(ref.sizeof.pointer); // virDomainCheckpointPtr **
    const n = await ctx.int('virDomainListAllCheckpoints', dom, out, 0);
    const array = ref.readPointer(out, 0, n * ref.sizeof.pointer);
    const names: string[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const checkpoint = ref.readPointer(array, i * ref.sizeof.pointer, 0);
        names.push(borrowCString(libvirt.virDomainCheckpointGetName(checkpoint)));
        libvirt.virDomainCheckpointFree(checkpoint);
      }
    } finally {
      if (!ref.isNull(array)) libc.free(array);
    }
    return names;
  });
}

function withCheckpoint<T>(
  domain: Domain,
  name: string,
  body: (ctx: CallContext, checkpoint: Ptr) => Promise<T>,
): Promise<T> {
  return domain.connection.withDomain(domain.uuid, async (ctx, dom) => {
    const checkpoint = await ctx.ptr('virDomainCheckpointLookupByName', dom, name, 0);
    try {
      return await body(ctx, checkpoint);
    } finally {
      libvirt.virDomainCheckpointFree(checkpoint);
    }
  });
}
