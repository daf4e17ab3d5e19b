import { runService } from '@crm/runtime';
import { callbackWorkerService } from './service';

runService('callback-worker', callbackWorkerService);
