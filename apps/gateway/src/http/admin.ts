/** Bull Board at /admin/queues behind HTTP basic auth (browsers prompt on the 401 challenge). */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type express from 'express';
import { checkBasicAuth } from '../auth.js';

export const ADMIN_PATH = '/admin/queues';

export function mountAdmin(app: express.Express, queue: Queue, admin: { user: string; password: string }): void {
  const board = new ExpressAdapter();
  board.setBasePath(ADMIN_PATH);
  createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter: board, options: { uiConfig: { boardTitle: 'VoxFleet' } } });
  app.use(
    ADMIN_PATH,
    (req, res, next) => {
      if (checkBasicAuth(req.headers.authorization, admin.user, admin.password)) return next();
      res
        .status(401)
        .set('WWW-Authenticate', 'Basic realm="VoxFleet admin", charset="UTF-8"')
        .json({ error: { code: 'unauthorized', message: 'admin credentials required (HTTP basic auth)' } });
    },
    board.getRouter() as express.Router,
  );
}
