/**
 * Bull Board at /admin/queues behind HTTP basic auth (browsers prompt on the
 * 401 challenge) with the admin credentials, never an API key: the board
 * shows every tenant's jobs. Its API (`/admin/queues/api/…`) sits behind the
 * same check; wrong credentials count against the client address's
 * failed-authentication budget like wrong API keys (429 once over it).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type express from 'express';
import { checkBasicAuth } from '../auth.js';
import type { RequestGuard } from './guard.js';

export const ADMIN_PATH = '/admin/queues';

export function mountAdmin(app: express.Express, queues: Queue[], admin: { user: string; password: string }, guard: RequestGuard): void {
  const board = new ExpressAdapter();
  board.setBasePath(ADMIN_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: board, options: { uiConfig: { boardTitle: 'VoxFleet' } } });
  app.use(
    ADMIN_PATH,
    (req, res, next) => {
      const ok = checkBasicAuth(req.headers.authorization, admin.user, admin.password);
      const throttled = guard.admin(req, ok);
      if (throttled) {
        res.status(throttled.status).set(throttled.headers).json(throttled.toBody());
        return;
      }
      if (ok) return next();
      res
        .status(401)
        .set('WWW-Authenticate', 'Basic realm="VoxFleet admin", charset="UTF-8"')
        .json({ error: { code: 'unauthorized', message: 'admin credentials required (HTTP basic auth)' } });
    },
    board.getRouter() as express.Router,
  );
}
