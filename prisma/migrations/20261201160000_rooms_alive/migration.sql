-- Roles: the creator recorded by the previous migration becomes the owner. Where the creator
-- has left, ownership passes as it will from now on: to the earliest-joined remaining member.
ALTER TABLE "rooms" RENAME COLUMN "created_by" TO "owner_id";
UPDATE "rooms" r SET "owner_id" = (
  SELECT rm."user_id" FROM "room_members" rm WHERE rm."room_id" = r."id" ORDER BY rm."joined_at", rm."id" LIMIT 1
) WHERE r."owner_id" IS NULL
   OR NOT EXISTS (SELECT 1 FROM "room_members" rm WHERE rm."room_id" = r."id" AND rm."user_id" = r."owner_id");

-- Direct rooms.
ALTER TABLE "rooms" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'group',
ADD COLUMN "direct_key" TEXT;
CREATE UNIQUE INDEX "rooms_direct_key_key" ON "rooms"("direct_key");

-- Read markers. Members who were there before read state existed start with everything read,
-- so an upgrade does not show every old message as unread.
ALTER TABLE "room_members" ADD COLUMN "last_read_seq" INTEGER NOT NULL DEFAULT 0;
UPDATE "room_members" rm SET "last_read_seq" = r."last_seq" FROM "rooms" r WHERE r."id" = rm."room_id";

-- Search: a generated tsvector of the current text ("simple": no stemming, every language).
ALTER TABLE "messages" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, "text")) STORED;
CREATE INDEX "messages_search_idx" ON "messages" USING GIN ("search");
