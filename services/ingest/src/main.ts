import { runService } from '@crm/runtime';
import { ingestService } from './service';

runService('ingest', ingestService, { opsServer: false });
