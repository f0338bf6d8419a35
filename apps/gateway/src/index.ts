export { startGateway, type RunningGateway } from './gateway.js';
export { createApp, ADMIN_PATH } from './app.js';
export { JobService, type JobView, type NewJobInput } from './service.js';
export { ApiError } from './errors.js';
export { ApiKeyAuth, checkBasicAuth, loadApiKeys, ownerOf } from './auth.js';
export { renderTranscript, renderSrt, renderVtt, renderTxt, parseFormat, TRANSCRIPT_FORMATS } from './render.js';
export { parseUpload } from './upload.js';
export { EventHub } from './events.js';
