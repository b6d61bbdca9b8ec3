-- AlterTable
ALTER TABLE "attachments" ADD COLUMN     "discarded_at" TIMESTAMPTZ(3);

-- AlterTable
-- Existing messages were each one change (their creation): version = seq, and each room's
-- last_version = last_seq, so clients holding seq-based state see a consistent room.
ALTER TABLE "messages" ADD COLUMN     "deleted_at" BIGINT,
ADD COLUMN     "edited_at" BIGINT,
ADD COLUMN     "reply_to_id" TEXT,
ADD COLUMN     "version" INTEGER;
UPDATE "messages" SET "version" = "seq";
ALTER TABLE "messages" ALTER COLUMN "version" SET NOT NULL;

-- AlterTable
ALTER TABLE "rooms" ADD COLUMN     "created_by" TEXT,
ADD COLUMN     "last_version" INTEGER NOT NULL DEFAULT 0;
UPDATE "rooms" SET "last_version" = "last_seq";
-- The creator was the first member; rooms whose members all left keep no owner.
UPDATE "rooms" r SET "created_by" = (
  SELECT rm."user_id" FROM "room_members" rm WHERE rm."room_id" = r."id" ORDER BY rm."joined_at", rm."id" LIMIT 1
);

-- CreateTable
CREATE TABLE "reactions" (
    "message_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "emoji" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "emoji_since" INTEGER NOT NULL,

    CONSTRAINT "reactions_pkey" PRIMARY KEY ("message_id","user_id","emoji")
);

-- CreateIndex
CREATE INDEX "reactions_user_id_idx" ON "reactions"("user_id");

-- CreateIndex
CREATE INDEX "attachments_discarded_at_idx" ON "attachments"("discarded_at");

-- CreateIndex
CREATE INDEX "messages_reply_to_id_idx" ON "messages"("reply_to_id");

-- CreateIndex
CREATE UNIQUE INDEX "messages_room_id_version_key" ON "messages"("room_id", "version");

-- AddForeignKey
ALTER TABLE "messages" ADD CONSTRAINT "messages_reply_to_id_fkey" FOREIGN KEY ("reply_to_id") REFERENCES "messages"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reactions" ADD CONSTRAINT "reactions_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "messages"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reactions" ADD CONSTRAINT "reactions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
