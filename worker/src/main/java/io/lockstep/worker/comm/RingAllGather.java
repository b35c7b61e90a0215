package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Ring all-gather of variable-sized byte blocks: at step s (0..N−2) a rank forwards the block of the
 * rank s positions behind it on the ring and receives the block of the rank s + 1 positions behind.
 * Each block travels as chunks whose header carries the block's total length, so no rank needs to know
 * the others' sizes in advance; chunk c of a block is forwarded as soon as it has arrived.
 *
 * <p>Allocates the result arrays (one per rank) once per operation, never per frame.
 */
final class RingAllGather extends RingOperation {
    /** Largest block a rank may contribute: an int-indexed Java array. */
    static final int MAX_BLOCK_BYTES = Integer.MAX_VALUE - 8;

    private final int[] ringOrder;
    private byte[][] blocks;
    private int steps;
    private int sendStep;
    private int sendChunk;
    private int recvStep;
    private int recvChunk;

    RingAllGather(OpIdentity identity, int[] ringOrder, int position, int chunkBytes) {
        super(identity, ringOrder.length, position, chunkBytes);
        this.ringOrder = ringOrder;
    }

    void prepare(byte[] contribution) {
        blocks = new byte[ringSize][];
        blocks[identity.rank] = contribution.clone();
        steps = ringSize - 1;
        sendStep = 0;
        sendChunk = 0;
        recvStep = 0;
        recvChunk = 0;
    }

    /** The gathered blocks, indexed by rank. */
    byte[][] takeResult() {
        return blocks;
    }

    /** Lets go of the blocks once the operation is over. */
    void release() {
        blocks = null;
    }

    @Override
    byte opType() {
        return Wire.OP_ALL_GATHER;
    }

    @Override
    byte encoding() {
        return Wire.ENCODING_BYTES;
    }

    @Override
    boolean sendsDone() {
        return sendStep >= steps;
    }

    @Override
    boolean receivesDone() {
        return recvStep >= steps;
    }

    private int sendOwner(int step) {
        return ringOrder[floorMod(position - step, ringSize)];
    }

    private int receiveOwner(int step) {
        return ringOrder[floorMod(position - step - 1, ringSize)];
    }

    private int chunks(int blockLength) {
        return blockLength == 0 ? 1 : (int) (((long) blockLength + chunkBytes - 1) / chunkBytes);
    }

    @Override
    int sendSome(LinkSender sender, int maxFrames) {
        int sent = 0;
        while (sent < maxFrames && sendStep < steps) {
            if (sendStep > 0 && !received(recvStep, recvChunk, sendStep - 1, sendChunk)) {
                break;
            }
            byte[] block = blocks[sendOwner(sendStep)];
            int first = sendChunk * chunkBytes;
            int count = Math.min(chunkBytes, block.length - first);
            int frameLength = FrameHeader.LENGTH + count;
            if (!sender.begin(frameLength)) {
                break;
            }
            MutableDirectBuffer frame = sender.buffer();
            int frameOffset = sender.offset();
            identity.stamp(tx.wrap(frame, frameOffset), FrameHeader.TYPE_DATA, Wire.OP_ALL_GATHER,
                    Wire.ENCODING_BYTES).writeData(sendStep, sendChunk, first, block.length, count);
            frame.putBytes(frameOffset + FrameHeader.LENGTH, block, first, count);
            sender.commit(frameLength);
            sent++;
            if (++sendChunk >= chunks(block.length)) {
                sendStep++;
                sendChunk = 0;
            }
        }
        return sent;
    }

    @Override
    String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength) {
        if (recvStep >= steps) {
            return "rank " + header.sender() + " sent more all-gather blocks than the group has ranks";
        }
        int owner = receiveOwner(recvStep);
        int blockLength = header.opLength();
        if (recvChunk == 0) {
            if (blockLength < 0 || blockLength > MAX_BLOCK_BYTES) {
                return "rank " + header.sender() + " announced an all-gather block of " + blockLength + " bytes";
            }
            blocks[owner] = new byte[blockLength];
        } else if (blockLength != blocks[owner].length) {
            return "rank " + header.sender() + " changed the length of rank " + owner + "'s block mid-way";
        }
        int first = recvChunk * chunkBytes;
        int count = Math.min(chunkBytes, blockLength - first);
        if (header.ringStep() != recvStep || header.chunk() != recvChunk || header.elementOffset() != first
                || header.count() != count || payloadLength != count) {
            return "rank " + header.sender() + " sent all-gather chunk " + header.chunk() + " of step "
                    + header.ringStep() + " where this rank expected chunk " + recvChunk + " of step " + recvStep
                    + ": every rank must use the same chunkBytes";
        }
        buffer.getBytes(payloadOffset, blocks[owner], first, count);
        if (++recvChunk >= chunks(blockLength)) {
            recvStep++;
            recvChunk = 0;
        }
        return null;
    }

    @Override
    String progress() {
        return "forwarded " + Math.min(sendStep, steps) + "/" + steps + " blocks, received " + Math.min(recvStep, steps)
                + "/" + steps + (recvStep < steps ? " (waiting for rank " + receiveOwner(recvStep) + "'s block)" : "");
    }
}
