import { runService } from '@crm/runtime';
import { messagingWorkerService } from './service';

runService('messaging-worker', messagingWorkerService);
